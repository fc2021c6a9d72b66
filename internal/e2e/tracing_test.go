package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
)

// TestJaegerShowsOneTreePerRequestOnTheLocalStack runs a branching flow
// (parallel join + foreach + a failing node handled by OnFailure) on the
// local stack with tracing exported to a real Jaeger, then checks the trace
// through Jaeger's query API.
func TestJaegerShowsOneTreePerRequestOnTheLocalStack(t *testing.T) {
	j := testenv.Jaeger(t)
	t.Setenv("E2E_JAEGER_OTLP_HTTP", j.OTLPHTTPEndpoint)
	s := startStack(t, filepath.Join("testdata", "traced.yml"))

	r := s.do(t, http.MethodPost, "/function/traced?wait=30s", []byte("go,fail"), nil)
	id := r.header.Get("X-Faas-Flow-Reqid")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "handled: node check failed") {
		t.Fatalf("%d %s", r.status, r.body)
	}

	// Spans are exported in batches (1 s); poll Jaeger for the request's trace.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var trace *testenv.Trace
	for trace == nil {
		traces, err := j.Traces(ctx, "traced")
		if err == nil {
			for i := range traces {
				for _, sp := range traces[i].Spans {
					if sp.TagString("faasflow.request_id") == id && len(sp.ParentSpanID) == 0 {
						trace = &traces[i]
					}
				}
			}
		}
		if trace == nil {
			select {
			case <-ctx.Done():
				t.Fatalf("no trace of request %s in Jaeger (services: %v)", id, func() []string { s, _ := j.Services(context.Background()); return s }())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	// Wait for the late spans of the same trace (the last hops flush last).
	full, err := j.AwaitTrace(ctx, trace.TraceID, 12)
	if err != nil {
		t.Fatal(err)
	}
	roots := full.Roots()
	if len(roots) != 1 {
		t.Fatalf("%d root spans, want exactly 1", len(roots))
	}
	root := roots[0]
	if !root.IsError() {
		t.Errorf("the request span of a failed request is not marked as an error")
	}
	// Every span descends from the root.
	parent := map[string]string{}
	for _, sp := range full.Spans {
		parent[sp.SpanID] = sp.ParentSpanID
	}
	nodes := map[string]testenv.Span{}
	for _, sp := range full.Spans {
		seen, at := 0, sp.SpanID
		for at != root.SpanID && at != "" && seen < 64 {
			at, seen = parent[at], seen+1
		}
		if at != root.SpanID {
			t.Errorf("span %q (%s) does not descend from the request span", sp.OperationName, sp.SpanID)
		}
		if n := sp.TagString("faasflow.node"); n != "" {
			nodes[n] = sp
		}
	}
	for _, n := range []string{"start", "left", "each", "each[go]/work", "each[fail]/work", "join", "check"} {
		if _, ok := nodes[n]; !ok {
			t.Errorf("no span for node %s (have %v)", n, keysOf(nodes))
		}
	}
	if sp, ok := nodes["check"]; ok && !sp.IsError() {
		t.Errorf("the failing node's span is not marked as an error")
	}
	if sp, ok := nodes["left"]; ok && sp.IsError() {
		t.Errorf("a node that succeeded is marked as an error")
	}
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
