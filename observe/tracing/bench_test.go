package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/observe/tracing"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// discardExporter drops spans: the benchmark measures the cost on the
// engine's path (span creation, attributes, context), not an exporter.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// chainOps is the number of Modify operations in the benchmarked sync node.
const chainOps = 8

func syncChain(flow *faasflow.Workflow, _ *faasflow.Context) error {
	n := flow.SyncNode()
	for range chainOps {
		n.Modify(func(in []byte) ([]byte, error) { return in, nil })
	}
	return nil
}

// BenchmarkSyncChain runs one request of a sync node with 8 Modify
// operations through engine.Start per iteration, with: no observer; tracing
// configured but disabled; tracing on and every request sampled (spans made
// and handed to a batch processor that discards them); tracing on and every
// request sampled out.
//
//	go test -run '^$' -bench SyncChain -benchmem -count 5 ./observe/tracing/
func BenchmarkSyncChain(b *testing.B) {
	mk := func(b *testing.B, c tracing.Config) engine.Observer {
		tr, err := tracing.New(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
		return tr.Observer()
	}
	cases := []struct {
		name string
		obs  func(b *testing.B) engine.Observer
	}{
		{name: "observer=nil", obs: func(*testing.B) engine.Observer { return nil }},
		{name: "tracing=disabled", obs: func(b *testing.B) engine.Observer { return mk(b, tracing.Config{}) }},
		{name: "tracing=sampled", obs: func(b *testing.B) engine.Observer {
			return mk(b, tracing.Config{Enabled: true, ServiceName: "bench", Exporter: discardExporter{}})
		}},
		{name: "tracing=sampled-out", obs: func(b *testing.B) engine.Observer {
			return mk(b, tracing.Config{Enabled: true, ServiceName: "bench", Exporter: discardExporter{}, Sampler: sdktrace.NeverSample()})
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e, err := engine.New(syncChain, engine.Options{Flow: "bench", Observer: c.obs(b)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			body := []byte("payload")
			b.ReportAllocs()
			for b.Loop() {
				res, err := e.Start(ctx, engine.StartRequest{Body: body})
				if err != nil || res.State != engine.StateSucceeded {
					b.Fatalf("start: %v %v", res, err)
				}
			}
		})
	}
}
