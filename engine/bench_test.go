package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/faas-flow/faas-flow/engine"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func identity(in []byte) ([]byte, error) { return in, nil }

func syncChain(n int) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		node := flow.SyncNode()
		for i := 0; i < n; i++ {
			node.Modify(identity)
		}
		return nil
	}
}

func asyncChain(n int) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		for i := 0; i < n; i++ {
			d.Node(fmt.Sprintf("n%d", i)).Modify(identity)
			if i > 0 {
				d.Edge(fmt.Sprintf("n%d", i-1), fmt.Sprintf("n%d", i))
			}
		}
		return nil
	}
}

// forEachFanOut is a foreach node of n branches, each one Modify, and an
// aggregator that counts them.
func forEachFanOut(n int) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		each := flow.Dag().ForEachBranch("each", func([]byte) map[string][]byte {
			m := make(map[string][]byte, n)
			for i := 0; i < n; i++ {
				m[fmt.Sprint(i)] = []byte("x")
			}
			return m
		}, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) { return []byte(fmt.Sprint(len(m))), nil }))
		each.Node("work").Modify(identity)
		return nil
	}
}

// BenchmarkSyncChain measures a request of a one-node flow with n Modify
// operations; ns/modify is the cost of one Modify including its share of
// Define, validation and the request itself.
func BenchmarkSyncChain(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("modifies=%d", n), func(b *testing.B) {
			e, err := engine.New(syncChain(n), engine.Options{Flow: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			in := []byte("payload")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.Start(ctx, engine.StartRequest{ID: "bench", Body: in}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/modify")
		})
	}
}

// TestSyncChainMarginalAllocationsPerModify pins the allocation cost of one
// more Modify in a sync chain (target: at most 10).
func TestSyncChainMarginalAllocationsPerModify(t *testing.T) {
	allocs := func(n int) float64 {
		e, err := engine.New(syncChain(n), engine.Options{Flow: "bench"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		return testing.AllocsPerRun(50, func() {
			_, _ = e.Start(ctx, engine.StartRequest{ID: "bench", Body: []byte("x")})
		})
	}
	small, large := allocs(10), allocs(110)
	per := (large - small) / 100
	t.Logf("allocations: 10 modifies %.0f, 110 modifies %.0f, %.2f per Modify", small, large, per)
	if per > 10 {
		t.Fatalf("%.2f allocations per Modify, want at most 10", per)
	}
}

// BenchmarkAsyncHop measures an async chain of 10 nodes through the
// loopback transport and in-memory stores; ns/hop is the engine's cost of
// one hop (signing, store coordination, routing), without a network.
func BenchmarkAsyncHop(b *testing.B) {
	const n = 10
	h, err := flowtest.New(asyncChain(n), flowtest.WithWorkers(1),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = -1 }))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.Run(ctx, []byte("payload")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n-1)), "ns/hop")
}

// BenchmarkForEachFanOut measures a foreach of 100 branches joined by an
// aggregator, per branch.
func BenchmarkForEachFanOut(b *testing.B) {
	const branches = 100
	h, err := flowtest.New(forEachFanOut(branches), flowtest.WithWorkers(2),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = -1 }))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.Run(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*branches), "ns/branch")
}
