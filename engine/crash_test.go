package engine_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	datamem "github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	"github.com/faas-flow/faas-flow/sdk"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// crashingState is a transactional StateStore that "crashes" at the first
// write matching crashAt: the write happens (after) or not (!after), and
// from then on every call fails, as if the process making them had died.
// revive brings it back for the redelivery.
type crashingState struct {
	*statemem.Store
	mu      sync.Mutex
	crashAt func(key string, value []byte) bool
	after   bool
	down    bool
	crashed bool
}

func (c *crashingState) check(key string, value []byte) (pass, crash bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return false, false
	}
	if c.crashAt != nil && c.crashAt(key, value) {
		c.crashAt, c.down, c.crashed = nil, true, true
		return c.after, true
	}
	return true, false
}

func (c *crashingState) failing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

func (c *crashingState) revive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = false
}

func (c *crashingState) Get(ctx context.Context, k string) ([]byte, int64, error) {
	if c.failing() {
		return nil, 0, errDown
	}
	return c.Store.Get(ctx, k)
}

func (c *crashingState) List(ctx context.Context, p string) ([]sdk.KV, error) {
	if c.failing() {
		return nil, errDown
	}
	return c.Store.List(ctx, p)
}

func (c *crashingState) Create(ctx context.Context, k string, v []byte, ttl time.Duration) (int64, bool, error) {
	pass, crash := c.check(k, v)
	if !pass {
		return 0, false, errDown
	}
	ver, ok, err := c.Store.Create(ctx, k, v, ttl)
	if crash {
		return 0, false, errDown
	}
	return ver, ok, err
}

func (c *crashingState) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	pass, crash := c.check(k, v)
	if !pass {
		return 0, false, errDown
	}
	nver, ok, err := c.Store.CompareAndSwap(ctx, k, ver, v, ttl)
	if crash {
		return 0, false, errDown
	}
	return nver, ok, err
}

func (c *crashingState) Delete(ctx context.Context, k string) error {
	if c.failing() {
		return errDown
	}
	return c.Store.Delete(ctx, k)
}

func (c *crashingState) DeletePrefix(ctx context.Context, p string) error {
	if c.failing() {
		return errDown
	}
	return c.Store.DeletePrefix(ctx, p)
}

// Txn crashes at a transaction with a matching write: the whole
// transaction applies (after) or none of it.
func (c *crashingState) Txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	if c.failing() {
		return nil, errDown
	}
	crash := false
	for _, op := range ops {
		if op.Kind != sdk.TxnKindCreate && op.Kind != sdk.TxnKindSwap {
			continue
		}
		pass, hit := c.check(op.Key, op.Value)
		if hit {
			if !pass {
				return nil, errDown
			}
			crash = true
			break
		}
	}
	res, err := c.Store.Txn(ctx, ops...)
	if crash {
		return nil, errDown
	}
	return res, err
}

// crashFlow is first -> foreach over k0..k3 (work in each branch) ->
// after, counting how often each piece of user code runs.
type crashFlow struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *crashFlow) count(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[name]++
}

func (c *crashFlow) define(flow *faasflow.Workflow, _ *faasflow.Context) error {
	d := flow.Dag()
	d.Node("first").Modify(func(in []byte) ([]byte, error) { c.count("first"); return in, nil })
	each := d.ForEachBranch("each", func([]byte) map[string][]byte {
		return map[string][]byte{"k0": []byte("0"), "k1": []byte("1"), "k2": []byte("2"), "k3": []byte("3")}
	}, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
		c.count("aggregator")
		return testflow.JoinSorted(m)
	}))
	each.Node("work").Modify(func(in []byte) ([]byte, error) {
		c.count("work " + string(in))
		return append(in, '+'), nil
	})
	d.Node("after").Modify(func(in []byte) ([]byte, error) { c.count("after"); return append(in, '!'), nil })
	d.Edge("first", "each")
	d.Edge("each", "after")
	return nil
}

// TestLastBranchDyingMidCompletionIsRecoveredByTheReconciler: the node
// ending a foreach branch writes its final status with the branch's result
// in one transaction, and then the delivery completes the foreach node. No
// queue redelivers anything here (the queue may deliver at most once):
// whichever step the last branch's process dies at, the reconciler finds
// the foreach node stalled (waiting with every result in, or completing
// under a lease that ran out) or the successor's hop unsent, and the
// request completes with every branch and the successor run once.
func TestLastBranchDyingMidCompletionIsRecoveredByTheReconciler(t *testing.T) {
	isEach := func(key string) bool { return strings.HasSuffix(key, "/n/each") }
	tests := []struct {
		name    string
		crashAt func(key string, value []byte) bool
		after   bool
		// leaseRunsOut: the completion is taken over once its lease runs
		// out; a pass before that must leave it alone.
		leaseRunsOut   bool
		aggregatorRuns int
	}{
		{
			name:    "after recording its result and final status",
			crashAt: func(key string, _ []byte) bool { return strings.Contains(key, "/b/each/") },
			after:   true, aggregatorRuns: 1,
		},
		{
			name:    "after claiming the completion",
			crashAt: func(key string, v []byte) bool { return isEach(key) && bytes.Contains(v, []byte(`"completing"`)) },
			after:   true, leaseRunsOut: true, aggregatorRuns: 1,
		},
		{
			// The successor's record is written with the foreach node's
			// end: the completion is done, only the hop must go again.
			name:    "after completing, before sending the successor's hop",
			crashAt: func(key string, _ []byte) bool { return strings.HasSuffix(key, "/n/after") },
			after:   true, aggregatorRuns: 1,
		},
		{
			name: "at the write that completes the foreach node",
			crashAt: func(key string, v []byte) bool {
				return isEach(key) && bytes.Contains(v, []byte(`"succeeded"`))
			},
			after: false, leaseRunsOut: true, aggregatorRuns: 2, // taken over: the aggregator runs again
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now atomic.Pointer[time.Time]
			t0 := time.Now()
			now.Store(&t0)
			clock := func() time.Time { return *now.Load() }
			state := &crashingState{Store: statemem.New(statemem.WithClock(clock))}
			cf := &crashFlow{runs: map[string]int{}}
			tr := &capture{}
			signer, err := engine.NewSigner([]byte("test-key"), false)
			if err != nil {
				t.Fatal(err)
			}
			e, err := engine.New(cf.define, engine.Options{Flow: "crash", StateStore: state, DataStore: datamem.New(),
				Transport: tr, Signer: signer, Now: clock, Lease: time.Minute, StallAfter: 30 * time.Second, Retention: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			res, err := e.Start(ctx, engine.StartRequest{Body: []byte("go")})
			if err != nil {
				t.Fatal(err)
			}
			// Start ran first inline; its hop is the fork's, which
			// launches the 4 branches.
			if err := e.Receive(ctx, tr.take(t)); err != nil {
				t.Fatal(err)
			}
			if n := tr.len(); n != 4 {
				t.Fatalf("%d branch hops, want 4", n)
			}
			for i := 0; i < 3; i++ {
				if err := e.Receive(ctx, tr.take(t)); err != nil {
					t.Fatalf("branch %d: %v", i, err)
				}
			}
			last := tr.take(t)
			state.mu.Lock()
			state.crashAt, state.after = tt.crashAt, tt.after
			state.mu.Unlock()
			_ = e.Receive(ctx, last) // the process dies somewhere in here
			if !state.crashed {
				t.Fatal("the crash point was never reached")
			}
			state.revive()
			tr.drop() // what the dying process sent after its death is lost
			if tt.leaseRunsOut {
				stall := t0.Add(45 * time.Second) // stalled, but the lease still runs
				now.Store(&stall)
				if rep, err := e.Reconcile(ctx); err != nil || rep.Redelivered != 0 {
					t.Fatalf("a pass within the completion's lease: %+v, %v; want nothing sent", rep, err)
				}
			}
			later := t0.Add(2 * time.Minute)
			now.Store(&later)
			if rep, err := e.Reconcile(ctx); err != nil || rep.Redelivered != 1 {
				t.Fatalf("reconciler pass: %+v, %v; want one hop sent again", rep, err)
			}
			deliverAll(t, e, tr)
			rec := wantResult(t, e, res.ID, "k0=0+,k1=1+,k2=2+,k3=3+!")
			want := map[string]int{"first": 1, "work 0": 1, "work 1": 1, "work 2": 1, "work 3": 1,
				"aggregator": tt.aggregatorRuns, "after": 1}
			for k, n := range want {
				if cf.runs[k] != n {
					t.Errorf("%s ran %d times, want %d (all runs: %v)", k, cf.runs[k], n, cf.runs)
				}
			}
			if !rec.Cleaned {
				t.Errorf("request not drained; keys left: %q", state.Keys())
			}
			if st := rec.Nodes["each"].Status; st != engine.NodeSucceeded {
				t.Errorf("foreach node %s, want succeeded", st)
			}
		})
	}
}
