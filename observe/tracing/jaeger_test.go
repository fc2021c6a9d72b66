package tracing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/observe/tracing"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

// TestJaegerShowsOneTreePerRequest runs the branching flow with tracing
// exported over OTLP (HTTP and gRPC) to the real Jaeger v2 binary, then finds
// the request's trace through Jaeger's query API by service name and the
// faasflow.request_id tag and checks its shape.
func TestJaegerShowsOneTreePerRequest(t *testing.T) {
	j := testenv.Jaeger(t)
	tests := []struct {
		name     string
		flow     string
		protocol string
		endpoint string
	}{
		{name: "OTLP/HTTP", flow: "branchy-http", protocol: tracing.ProtocolHTTP, endpoint: "http://" + j.OTLPHTTPEndpoint + "/v1/traces"},
		{name: "OTLP/gRPC", flow: "branchy-grpc", protocol: tracing.ProtocolGRPC, endpoint: "http://" + j.OTLPGRPCEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t, 60*time.Second)
			tr, err := tracing.New(ctx, tracing.Config{
				Enabled: true, ServiceName: tt.flow, Endpoint: tt.endpoint, Protocol: tt.protocol,
				BatchTimeout: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			h, err := flowtest.New(branchingFlow(&calls), flowtest.WithFlowName(tt.flow),
				flowtest.WithFunction("worker", worker),
				flowtest.WithEngineOptions(func(o *engine.Options) { o.Observer = tr.Observer() }))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			// Two requests: the query must tell them apart by request id.
			var ids []string
			for range 2 {
				res, err := h.Run(ctx, []byte("a,b"))
				if err != nil {
					t.Fatal(err)
				}
				if res.State != engine.StateFailed || !strings.HasPrefix(string(res.Output), "handled: ") {
					t.Fatalf("state %s output %q, want failed and handled by OnFailure", res.State, res.Output)
				}
				ids = append(ids, res.ID)
			}
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatalf("flush to Jaeger at %s: %v\njaeger log: %s", tt.endpoint, err, j.Log())
			}

			got := findRequestTraces(ctx, t, j, tt.flow, ids[0])
			if len(got) != 1 {
				t.Fatalf("Jaeger has %d traces for request %s, want exactly 1", len(got), ids[0])
			}
			trace := got[0]
			var spans []span
			for _, s := range trace.Spans {
				if s.ServiceName != tt.flow {
					t.Errorf("span %q has service %q, want the flow name %q", s.OperationName, s.ServiceName, tt.flow)
				}
				if rid := s.TagString("faasflow.request_id"); rid != ids[0] {
					t.Errorf("span %q carries request id %q, want %q", s.OperationName, rid, ids[0])
				}
				spans = append(spans, fromJaeger(s))
			}
			t.Logf("trace %s of request %s: %d spans, %d roots", trace.TraceID, ids[0], len(spans), len(trace.Roots()))
			assertBranchingTrace(t, spans, tt.flow, ids[0])
			for _, root := range trace.Roots() {
				if root.TagString("otel.status_code") != "ERROR" || !root.IsError() {
					t.Errorf("root span tags %v: want otel.status_code=ERROR and error=true", root.Tags)
				}
			}
			if found := searchByRequestTag(ctx, t, j, tt.flow, ids[0]); len(found) != 1 || found[0] != trace.TraceID {
				t.Errorf("Jaeger tag search for faasflow.request_id found traces %v, want only %s", found, trace.TraceID)
			}
			if other := findRequestTraces(ctx, t, j, tt.flow, ids[1]); len(other) != 1 || other[0].TraceID == trace.TraceID {
				t.Fatalf("second request: %d traces (first %s), want its own single trace", len(other), trace.TraceID)
			}
		})
	}
}

// findRequestTraces polls Jaeger for the traces of service that contain a
// span tagged with the request id, until one of them has its root span (the
// request span is exported last) or ctx ends.
func findRequestTraces(ctx context.Context, t *testing.T, j *testenv.JaegerServer, service, reqID string) []testenv.Trace {
	t.Helper()
	for {
		traces, err := j.Traces(ctx, service)
		if err != nil {
			t.Fatalf("query Jaeger: %v\njaeger log: %s", err, j.Log())
		}
		var out []testenv.Trace
		complete := false
		for _, tr := range traces {
			for _, s := range tr.Spans {
				if s.TagString("faasflow.request_id") == reqID {
					out = append(out, tr)
					break
				}
			}
		}
		for _, tr := range out {
			for _, s := range tr.Spans {
				if s.ParentSpanID == "" && s.OperationName == service {
					complete = true
				}
			}
		}
		if complete {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Jaeger has no complete trace for request %s of service %s (found %d partial)\njaeger log: %s",
				reqID, service, len(out), j.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// searchByRequestTag asks Jaeger's own search (the UI's "Tags" field) for
// the traces of service with faasflow.request_id=reqID, as docs/observability.md
// tells users to, and returns their trace ids.
func searchByRequestTag(ctx context.Context, t *testing.T, j *testenv.JaegerServer, service, reqID string) []string {
	t.Helper()
	tags, _ := json.Marshal(map[string]string{"faasflow.request_id": reqID})
	q := url.Values{"service": {service}, "tags": {string(tags)}, "limit": {"20"}, "lookback": {"1h"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+"/api/traces?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Jaeger search: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			TraceID string `json:"traceID"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Jaeger search: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("Jaeger search: %v", err)
	}
	var ids []string
	for _, d := range body.Data {
		id := strings.ToLower(d.TraceID)
		ids = append(ids, strings.Repeat("0", 32-len(id))+id)
	}
	return ids
}

func fromJaeger(s testenv.Span) span {
	sp := span{TraceID: s.TraceID, SpanID: s.SpanID, Parent: s.ParentSpanID, Name: s.OperationName,
		Attrs: map[string]string{}, Error: s.IsError()}
	for k := range s.Tags {
		sp.Attrs[k] = s.TagString(k)
	}
	for _, l := range s.Logs {
		if ev, ok := l.Fields["event"].(string); ok {
			sp.Events = append(sp.Events, ev)
		}
	}
	for _, r := range s.References {
		if r.RefType == "FOLLOWS_FROM" {
			sp.Links = append(sp.Links, r.SpanID)
		}
	}
	return sp
}
