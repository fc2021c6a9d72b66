package metrics_test

import (
	"context"
	"testing"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/observe/metrics"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// BenchmarkSyncChain runs one request of a sync node with 8 Modify
// operations per iteration, without an observer and with Metrics.
//
//	go test -run '^$' -bench SyncChain -benchmem -count 5 ./observe/metrics/
func BenchmarkSyncChain(b *testing.B) {
	chain := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		n := flow.SyncNode()
		for range 8 {
			n.Modify(func(in []byte) ([]byte, error) { return in, nil })
		}
		return nil
	}
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		obs  engine.Observer
	}{{"observer=nil", nil}, {"metrics", m}} {
		b.Run(c.name, func(b *testing.B) {
			e, err := engine.New(chain, engine.Options{Flow: "bench", Observer: c.obs})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if res, err := e.Start(ctx, engine.StartRequest{Body: []byte("payload")}); err != nil || res.State != engine.StateSucceeded {
					b.Fatalf("start: %v %v", res, err)
				}
			}
		})
	}
}
