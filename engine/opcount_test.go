package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// countingState counts StateStore calls by kind, and the bytes of the
// node records hops read one at a time. Lists of all node records, which
// the cleanup of an ended request reads, are counted apart: a hop that
// ends while the request ends cleans up too, so their number varies with
// timing (so do reads of the request record, left out of the bytes).
type countingState struct {
	sdk.StateStore
	reads, writes, nodeBytes, nodeLists atomic.Int64
}

func (c *countingState) countValue(key string, v []byte) {
	if strings.Contains(key, "/n/") {
		c.nodeBytes.Add(int64(len(v)))
	}
}

func (c *countingState) Get(ctx context.Context, k string) ([]byte, int64, error) {
	c.reads.Add(1)
	b, v, err := c.StateStore.Get(ctx, k)
	c.countValue(k, b)
	return b, v, err
}
func (c *countingState) List(ctx context.Context, p string) ([]sdk.KV, error) {
	c.reads.Add(1)
	kvs, err := c.StateStore.List(ctx, p)
	if strings.HasSuffix(p, "/n/") {
		c.nodeLists.Add(1)
		return kvs, err
	}
	for _, kv := range kvs {
		c.countValue(kv.Key, kv.Value)
	}
	return kvs, err
}
func (c *countingState) Create(ctx context.Context, k string, v []byte, ttl time.Duration) (int64, bool, error) {
	c.writes.Add(1)
	return c.StateStore.Create(ctx, k, v, ttl)
}
func (c *countingState) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	c.writes.Add(1)
	return c.StateStore.CompareAndSwap(ctx, k, ver, v, ttl)
}

// countingTxState is countingState with the optional sdk.Transactor of the
// store it wraps: a transaction is one round trip, a write if it has one.
type countingTxState struct{ *countingState }

func (c countingTxState) Txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	n := &c.reads
	for _, op := range ops {
		if op.Kind == sdk.TxnKindCreate || op.Kind == sdk.TxnKindSwap {
			n = &c.writes
		}
	}
	n.Add(1)
	res, err := c.StateStore.(sdk.Transactor).Txn(ctx, ops...)
	for i, r := range res {
		if ops[i].Kind == sdk.TxnKindGet {
			c.countValue(ops[i].Key, r.Value)
		}
	}
	return res, err
}

// TestStateStoreRoundTripsPerNode pins how many StateStore calls one node
// execution costs, since each is a network round trip on etcd: per node of
// a chain and per branch of a foreach, with the request's own calls
// (create, finish, cleanup) spread over the nodes.
func TestStateStoreRoundTripsPerNode(t *testing.T) {
	plain := func(c *countingState) sdk.StateStore { return c }
	tx := func(c *countingState) sdk.StateStore { return countingTxState{c} }
	tests := []struct {
		name          string
		define        sdk.DefineFunc
		nodes         int
		store         func(*countingState) sdk.StateStore
		reads, writes float64
		nodeBytes     float64 // bytes of node records read by hops
	}{
		// Per hop: read the request record, read and claim the node and
		// reserve its child's record; the child's hop leaves when the node
		// has run, then the last write stores it in the outbox before the
		// node is marked succeeded, and reads the request record. No hop
		// reads a node record but its own.
		{"chain on a plain StateStore", asyncChain(10), 10, plain, 3.0, 4.3, 400},
		// With a Transactor one transaction claims the node on the version
		// its hop carries, reads the request record and reserves the
		// child's record; the child's hop leaves as soon as the node has
		// run, and the last write marks the node succeeded, stores the hop
		// in the outbox and reads the record again. Start creates the request record, its
		// entry in the reconciler's index and the start node's record,
		// already claimed, in one transaction. The hop that ends the
		// request ends it in its last write, then runs its handlers and
		// cleans up in one update (0.30 reads per node before the outbox,
		// 0.40 with the end in the last write and a drain of its own). The
		// last write that ends the request reads its node's record (23
		// bytes per node of a 230-byte record) to tell a takeover from a
		// request record that changed.
		{"chain on a Transactor", asyncChain(10), 10, tx, 0.15, 2.3, 30},
		// Per branch: the claim reads the request record and the branch's
		// node record; the last write records the branch's result with a
		// count of the results (a list, without transactions) and reads the
		// request record.
		{"foreach on a plain StateStore", forEachFanOut(100), 100, plain, 4.2, 4.5, 500},
		// With a Transactor the fork creates the branch records, with their
		// hops, in its last write (96 to a transaction, the first ones
		// ahead of it), and one transaction records the branch's result,
		// counts the results and marks the branch's node succeeded.
		{"foreach on a Transactor", forEachFanOut(100), 100, tx, 0.2, 2.2, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := &countingState{StateStore: statemem.New()}
			h, err := flowtest.New(tt.define, flowtest.WithWorkers(1), flowtest.WithStores(tt.store(cs), nil),
				flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = time.Hour }))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if _, err := h.Run(context.Background(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			// Count until the hops are over, before anything polls the
			// request's result (how often a waiter polls depends on timing).
			ctx := context.Background()
			r0, w0, b0, l0 := cs.reads.Load(), cs.writes.Load(), cs.nodeBytes.Load(), cs.nodeLists.Load()
			started, err := h.Engine.Start(ctx, engine.StartRequest{Body: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Transport.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			n := float64(tt.nodes)
			reads, writes := float64(cs.reads.Load()-r0)/n, float64(cs.writes.Load()-w0)/n
			bytes := float64(cs.nodeBytes.Load()-b0) / n
			lists := cs.nodeLists.Load() - l0
			if res, err := h.Await(ctx, started.ID); err != nil || res.State != engine.StateSucceeded {
				t.Fatalf("request ended %+v, %v; want succeeded", res, err)
			}
			t.Logf("per node: %.2f reads, %.2f writes, %.0f bytes of node records read; %d lists of all nodes", reads, writes, bytes, lists)
			// The hop that ends the request lists the nodes to clean up, and
			// so does the start hop (run by Start) if it ends after that.
			if lists < 1 || lists > 2 {
				t.Fatalf("all node records were listed %d times; want once, or twice if two hops ended together", lists)
			}
			// A second cleanup costs a few reads (the request record, the
			// list) and its update of the record, retried: a compare-and-swap
			// that loses is counted as a write.
			readBudget := tt.reads + float64(lists-1)*4/n
			writeBudget := tt.writes + float64(lists-1)*1/n
			// (With a tolerance: 4.3 + 1/10 is a hair under 4.4 in floating point.)
			const tolerance = 1e-9
			if reads > readBudget+tolerance || writes > writeBudget+tolerance {
				t.Fatalf("%.2f reads and %.2f writes per node; budget is %.2f reads and %.2f writes", reads, writes, readBudget, writeBudget)
			}
			// Each listing reads every node record once.
			if bytes > tt.nodeBytes*float64(lists) {
				t.Fatalf("%.0f bytes of node records read per node in %d listings; budget is %.0f a listing", bytes, lists, tt.nodeBytes)
			}
		})
	}
}
