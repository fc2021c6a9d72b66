package tracing_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/observe/tracing"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

func newMemTracing(t testing.TB, flow string, sampler sdktrace.Sampler) (*tracing.Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.New(context.Background(), tracing.Config{
		Enabled: true, ServiceName: flow, Exporter: exp, SyncExport: true, Sampler: sampler,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func fromStubs(stubs tracetest.SpanStubs) []span {
	out := make([]span, 0, len(stubs))
	for _, s := range stubs {
		sp := span{
			TraceID: s.SpanContext.TraceID().String(), SpanID: s.SpanContext.SpanID().String(),
			Name: s.Name, Attrs: map[string]string{}, Error: s.Status.Code == codes.Error,
		}
		if s.Parent.IsValid() {
			sp.Parent = s.Parent.SpanID().String()
		}
		for _, a := range s.Attributes {
			sp.Attrs[string(a.Key)] = a.Value.Emit()
		}
		for _, e := range s.Events {
			sp.Events = append(sp.Events, e.Name)
		}
		for _, l := range s.Links {
			sp.Links = append(sp.Links, l.SpanContext.SpanID().String())
		}
		out = append(out, sp)
	}
	return out
}

func TestBranchingFlowIsOneTreeUnderTheRequestSpan(t *testing.T) {
	tests := []struct {
		name  string
		chaos *flowtest.Chaos
	}{
		{name: "in order"},
		// Duplicated and reordered hops (an at-least-once queue) change
		// nothing: duplicates are dropped before a node span starts.
		{name: "duplicated and reordered hops", chaos: &flowtest.Chaos{Seed: 7, Duplicate: 0.5, Reorder: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const flow = "branchy"
			tr, exp := newMemTracing(t, flow, nil)
			var calls atomic.Int32
			opts := []flowtest.Option{flowtest.WithFlowName(flow), flowtest.WithFunction("worker", worker),
				flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() })}
			if tt.chaos != nil {
				opts = append(opts, flowtest.WithChaos(*tt.chaos))
			}
			h, err := flowtest.New(branchingFlow(&calls), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			res, err := h.Run(ctxT(t, 20*time.Second), []byte("a,b"))
			if err != nil {
				t.Fatal(err)
			}
			if res.State != engine.StateFailed || !strings.HasPrefix(string(res.Output), "handled: ") {
				t.Fatalf("state %s output %q, want failed and handled by OnFailure", res.State, res.Output)
			}
			assertBranchingTrace(t, fromStubs(exp.GetSpans()), flow, res.ID)
		})
	}
}

// Two engines on the same stores stand for two processes: the first call
// runs in A, every hop (and the end of the request) in B. The request span,
// created by B, must still be the root of A's spans, with A's start time.
func TestRequestSpanEndedInAnotherProcessIsTheRootOfAllSpans(t *testing.T) {
	const flow = "twoproc"
	trA, expA := newMemTracing(t, flow, nil)
	trB, expB := newMemTracing(t, flow, nil)
	state, data := statememory.New(), memory.New()
	var calls atomic.Int32
	mk := func(tr *tracing.Tracing) *flowtest.Harness {
		h, err := flowtest.New(branchingFlow(&calls), flowtest.WithFlowName(flow), flowtest.WithStores(state, data),
			flowtest.WithFunction("worker", worker),
			flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	a, b := mk(trA), mk(trB)
	a.Transport.SetTarget(b.Engine.Receive)
	ctx := ctxT(t, 20*time.Second)
	before := time.Now()
	st, err := a.Engine.Start(ctx, engine.StartRequest{Body: []byte("a,b")})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Transport.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := b.Await(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != engine.StateFailed {
		t.Fatalf("state %s", res.State)
	}
	spansA, spansB := expA.GetSpans(), expB.GetSpans()
	for _, s := range spansA {
		if s.Parent.IsValid() == false {
			t.Fatalf("process A exported a root span %q; the request span belongs to the process that ends the request", s.Name)
		}
	}
	var root tracetest.SpanStub
	for _, s := range spansB {
		if !s.Parent.IsValid() {
			root = s
		}
	}
	if root.StartTime.Before(before.Add(-time.Second)) || root.StartTime.After(spansA[0].StartTime) {
		t.Errorf("request span starts at %v, want the first call's time (first span of A at %v)", root.StartTime, spansA[0].StartTime)
	}
	assertBranchingTrace(t, fromStubs(append(spansA, spansB...)), flow, st.ID)
}

func TestSampledOutRequestRecordsNothingAndPropagatesTheDecision(t *testing.T) {
	tr, exp := newMemTracing(t, "off", sdktrace.NeverSample())
	var calls atomic.Int32
	var seen atomic.Value
	h, err := flowtest.New(branchingFlow(&calls), flowtest.WithFlowName("off"),
		flowtest.WithFunction("worker", worker),
		flowtest.WithEngineOptions(func(o *engine.Options) {
			o.Observer = engine.Observers(tr.Observer(), hopSpy{f: func(env *engine.Envelope) { seen.Store(env.Trace[tracing.KeyRoot]) }})
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(ctxT(t, 20*time.Second), []byte("a,b"))
	if err != nil || res.State != engine.StateFailed {
		t.Fatalf("run: %v %v", res, err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("sampled-out request exported %d spans", n)
	}
	root, _ := seen.Load().(string)
	if !strings.HasPrefix(root, "00-") || !strings.HasSuffix(root, "-00") {
		t.Fatalf("hops carry root %q, want an unsampled traceparent", root)
	}
}

// hopSpy records received hops.
type hopSpy struct {
	engine.NopObserver
	f func(*engine.Envelope)
}

func (s hopSpy) HopReceived(ctx context.Context, env *engine.Envelope) context.Context {
	s.f(env)
	return ctx
}

func TestCallerTraceContextBecomesTheRequestSpanParent(t *testing.T) {
	tests := []struct {
		name      string
		sampled   bool
		wantSpans bool
	}{
		{name: "sampled caller is continued", sampled: true, wantSpans: true},
		{name: "unsampled caller is respected", sampled: false, wantSpans: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, exp := newMemTracing(t, "called", nil)
			h, err := flowtest.New(func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(func(in []byte) ([]byte, error) { return in, nil })
				d.Node("b").Modify(func(in []byte) ([]byte, error) { return in, nil })
				d.Edge("a", "b")
				return nil
			}, flowtest.WithFlowName("called"), flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			flags := trace.TraceFlags(0)
			if tt.sampled {
				flags = trace.FlagsSampled
			}
			caller := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: flags, Remote: true,
			})
			ctx := trace.ContextWithRemoteSpanContext(ctxT(t, 10*time.Second), caller)
			res, err := h.Run(ctx, []byte("x"))
			if err != nil || res.State != engine.StateSucceeded {
				t.Fatalf("run: %v %v", res, err)
			}
			spans := exp.GetSpans()
			if !tt.wantSpans {
				if len(spans) != 0 {
					t.Fatalf("unsampled caller: %d spans exported", len(spans))
				}
				return
			}
			var roots int
			for _, s := range spans {
				if s.SpanContext.TraceID() != caller.TraceID() {
					t.Errorf("span %q in trace %s, want the caller's %s", s.Name, s.SpanContext.TraceID(), caller.TraceID())
				}
				if s.Parent.SpanID() == caller.SpanID() {
					roots++
					if s.Name != "called" || s.Status.Code == codes.Error {
						t.Errorf("request span %q status %v", s.Name, s.Status)
					}
				}
			}
			if roots != 1 {
				t.Fatalf("%d spans are children of the caller's span, want the request span only", roots)
			}
		})
	}
}

func TestExternalTracerProviderWithIDGeneratorKeepsTheTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithIDGenerator(tracing.IDGenerator()), sdktrace.WithSampler(tracing.Sampler(nil)))
	defer tp.Shutdown(context.Background())
	tr, err := tracing.New(context.Background(), tracing.Config{Enabled: true, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	h, err := flowtest.New(branchingFlow(&calls), flowtest.WithFlowName("ext"), flowtest.WithFunction("worker", worker),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(ctxT(t, 20*time.Second), []byte("a,b"))
	if err != nil {
		t.Fatal(err)
	}
	assertBranchingTrace(t, fromStubs(exp.GetSpans()), "ext", res.ID)
}

func TestSyncFlowRecordsRequestNodeAndOperationSpans(t *testing.T) {
	tr, exp := newMemTracing(t, "single", nil)
	h, err := flowtest.New(func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Modify(func(in []byte) ([]byte, error) { return in, nil }).Apply("worker")
		return nil
	}, flowtest.WithFlowName("single"), flowtest.WithFunction("worker", worker),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	res, err := h.Run(ctxT(t, 10*time.Second), []byte("x"))
	if err != nil || res.State != engine.StateSucceeded {
		t.Fatalf("run: %v %v", res, err)
	}
	spans := fromStubs(exp.GetSpans())
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	if len(spans) != 4 {
		t.Fatalf("spans %v, want request, node and two operations", names)
	}
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	for _, s := range spans {
		switch {
		case s.Parent == "":
			if s.Name != "single" || s.Attrs["faasflow.request_id"] != res.ID || s.Error {
				t.Errorf("root %q %v", s.Name, s.Attrs)
			}
		case s.isNode():
			if byID[s.Parent].Parent != "" {
				t.Errorf("node span is not a child of the request span")
			}
		case s.isOp():
			if !byID[s.Parent].isNode() {
				t.Errorf("operation %q is not a child of the node span", s.Name)
			}
		default:
			t.Errorf("unexpected span %q", s.Name)
		}
	}
}

func TestDisabledTracingHasNoObserver(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.Observer() != nil {
		t.Fatal("disabled tracing returned an observer")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		c    tracing.Config
	}{
		{name: "no service name", c: tracing.Config{Enabled: true}},
		{name: "bad endpoint", c: tracing.Config{Enabled: true, ServiceName: "f", Endpoint: "jaeger:4318"}},
		{name: "bad protocol", c: tracing.Config{Enabled: true, ServiceName: "f", Protocol: "http/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tracing.New(context.Background(), tt.c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestOperationContextPropagatesOverHTTPHeaders(t *testing.T) {
	tr, exp := newMemTracing(t, "prop", nil)
	var got atomic.Value
	inv := invokerFunc(func(ctx context.Context, call *engine.Call) ([]byte, error) {
		h := http.Header{}
		tracing.InjectHeaders(ctx, h)
		got.Store(trace.SpanContextFromContext(tracing.ExtractHeaders(context.Background(), h)))
		return call.Data, nil
	})
	h, err := flowtest.New(func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Apply("remote")
		return nil
	}, flowtest.WithFlowName("prop"), flowtest.WithInvoker(inv),
		flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Run(ctxT(t, 10*time.Second), []byte("x")); err != nil {
		t.Fatal(err)
	}
	sc, _ := got.Load().(trace.SpanContext)
	var op tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "remote" {
			op = s
		}
	}
	if !sc.IsValid() || sc.SpanID() != op.SpanContext.SpanID() || sc.TraceID() != op.SpanContext.TraceID() || !sc.IsSampled() {
		t.Fatalf("called function saw %v, want the operation span %v", sc, op.SpanContext)
	}
}

type invokerFunc func(ctx context.Context, call *engine.Call) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, call *engine.Call) ([]byte, error) {
	return f(ctx, call)
}
