package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testenv"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// dropHops is a Transport that accepts every hop and delivers none: the
// benchmark only reads.
type dropHops struct{}

func (dropHops) Send(context.Context, string, []byte) error { return nil }

func twoNodes(flow *faasflow.Workflow, _ *faasflow.Context) error {
	d := flow.Dag()
	d.Node("a").Modify(func(b []byte) ([]byte, error) { return b, nil })
	d.Node("b").Modify(func(b []byte) ([]byte, error) { return b, nil })
	d.Edge("a", "b")
	return nil
}

// seedFinished writes n finished requests of flow straight into the state
// store, as the engine leaves them once drained: the record (with its
// nodes' statuses) and the entry in the listing index, laid out as in
// engine/keys.go. The last one started a minute ago, the others every
// `every` before it. Starting 10,000 real requests would take minutes; the
// caller checks that the engine lists what was seeded.
func seedFinished(b *testing.B, st *etcd.Store, flow string, n int, every time.Duration) {
	b.Helper()
	ctx := context.Background()
	last := time.Now().Add(-time.Minute)
	const perTxn = 50 // two creates each
	for first := 0; first < n; first += perTxn {
		var ops []faasflow.TxnOp
		for i := first; i < min(first+perTxn, n); i++ {
			started := last.Add(-time.Duration(n-1-i) * every)
			ended := started.Add(40 * time.Millisecond)
			id := fmt.Sprintf("req%06d", i)
			rec, err := json.Marshal(engine.RequestRecord{
				ID: id, Flow: flow, Incarnation: "inc", State: engine.StateSucceeded,
				Created: started, Updated: ended, Ended: &ended, Cleaned: true,
				Nodes: map[string]engine.NodeStatus{
					"a": {Status: engine.NodeSucceeded, Started: &started, Ended: &ended, Attempts: 1},
					"b": {Status: engine.NodeSucceeded, Started: &started, Ended: &ended, Attempts: 1},
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			inv := fmt.Sprintf("%016x", uint64(math.MaxInt64-started.UnixNano()))
			ops = append(ops,
				faasflow.TxnCreate("r/"+flow+"/"+id, rec, 48*time.Hour),
				faasflow.TxnCreate("l/"+flow+"/"+inv+"/"+id, nil, 48*time.Hour))
		}
		if _, err := st.Txn(ctx, ops...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// BenchmarkFirstPageOfRequests lists the first page (10 requests, newest
// first) of flows that keep 10 and 10,000 finished requests, one started
// every 10 seconds, on one real etcd: a page costs the same whatever the
// number of requests kept. The last case keeps 10,000 requests started
// within 10 seconds: the window of start times the page reads holds them
// all, and etcd counts every key of a range it reads.
func BenchmarkFirstPageOfRequests(b *testing.B) {
	srv := testenv.StartEtcd(b, testenv.EtcdConfig{})
	ctx := context.Background()
	st, err := etcd.New(ctx, etcd.Options{Endpoints: srv.Endpoints()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	signer, err := engine.NewSigner([]byte("bench-key"), false)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		kept  int
		every time.Duration
	}{
		{"kept=10", 10, 10 * time.Second},
		{"kept=10000", 10_000, 10 * time.Second},
		{"kept=10000-in-10s", 10_000, time.Millisecond},
	} {
		flow := strings.NewReplacer("=", "", "-", "").Replace(c.name)
		seedFinished(b, st, flow, c.kept, c.every)
		e, err := engine.New(twoNodes, engine.Options{
			Flow: flow, StateStore: st, DataStore: memory.New(), Transport: dropHops{}, Signer: signer,
		})
		if err != nil {
			b.Fatal(err)
		}
		q := engine.ListQuery{Limit: 10}
		page, err := e.Requests(ctx, q)
		if err != nil || len(page.Requests) != 10 || page.Requests[0].ID != fmt.Sprintf("req%06d", c.kept-1) {
			b.Fatalf("first page of %s: %+v, %v; want the 10 newest seeded requests", flow, page, err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Requests(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
