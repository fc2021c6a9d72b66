package testenv

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestJaegerReceivesOTLPSpansAndServesThemByQueryAPI sends a parent and a
// failed child span through each OTLP receiver of a real Jaeger v2 and reads
// them back through the query API with the parent link, tags, error status,
// events and service name intact.
func TestJaegerReceivesOTLPSpansAndServesThemByQueryAPI(t *testing.T) {
	j := Jaeger(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tests := []struct {
		name     string
		exporter func(context.Context) (sdktrace.SpanExporter, error)
	}{
		{"otlp-http", func(ctx context.Context) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(j.OTLPHTTPEndpoint), otlptracehttp.WithInsecure())
		}},
		{"otlp-grpc", func(ctx context.Context) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(j.OTLPGRPCEndpoint), otlptracegrpc.WithInsecure())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			service := "testenv-" + tt.name
			exp, err := tt.exporter(ctx)
			if err != nil {
				t.Fatalf("create exporter: %v", err)
			}
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSyncer(exp),
				sdktrace.WithResource(resource.NewSchemaless(
					attribute.String("service.name", service),
					attribute.String("deployment.environment", "test"),
				)),
			)
			tracer := tp.Tracer("testenv")
			rctx, root := tracer.Start(ctx, "request")
			_, child := tracer.Start(rctx, "node-a", trace.WithAttributes(
				attribute.Int64("faasflow.attempt", 3),
				attribute.Bool("faasflow.inline", false),
				attribute.String("faasflow.node", "a"),
			))
			child.RecordError(errors.New("boom"))
			child.SetStatus(codes.Error, "node a failed")
			child.End()
			root.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("export spans: %v", err)
			}
			traceID := root.SpanContext().TraceID().String()
			rootID := root.SpanContext().SpanID().String()
			childID := child.SpanContext().SpanID().String()

			tr, err := j.AwaitTrace(ctx, traceID, 2)
			if err != nil {
				t.Fatalf("await trace: %v\njaeger log: %s", err, j.Log())
			}
			if tr.TraceID != traceID || len(tr.Spans) != 2 {
				t.Fatalf("trace %s with %d spans, want %s with 2", tr.TraceID, len(tr.Spans), traceID)
			}
			roots := tr.Roots()
			if len(roots) != 1 || roots[0].SpanID != rootID || roots[0].OperationName != "request" {
				t.Fatalf("roots = %+v, want the one span %s named request", roots, rootID)
			}
			if roots[0].IsError() {
				t.Errorf("root span is marked as error; tags %v", roots[0].Tags)
			}
			kids := tr.Children(rootID)
			if len(kids) != 1 {
				t.Fatalf("children of root = %d, want 1", len(kids))
			}
			c := kids[0]
			if c.SpanID != childID || c.TraceID != traceID || c.OperationName != "node-a" {
				t.Errorf("child = %s/%s %q, want %s/%s node-a", c.TraceID, c.SpanID, c.OperationName, traceID, childID)
			}
			if !slices.Contains(c.References, SpanReference{RefType: "CHILD_OF", TraceID: traceID, SpanID: rootID}) {
				t.Errorf("child references %+v lack CHILD_OF %s", c.References, rootID)
			}
			if !c.IsError() || c.TagString("otel.status_code") != "ERROR" || c.TagString("otel.status_description") != "node a failed" {
				t.Errorf("child error tags: %v", c.Tags)
			}
			for key, want := range map[string]any{"faasflow.attempt": int64(3), "faasflow.inline": false, "faasflow.node": "a"} {
				if got, ok := c.Tag(key); !ok || got != want {
					t.Errorf("tag %s = %#v (present %v), want %#v", key, got, ok, want)
				}
			}
			if c.ServiceName != service || c.ProcessTags["deployment.environment"] != "test" {
				t.Errorf("process = %q %v, want %q with deployment.environment=test", c.ServiceName, c.ProcessTags, service)
			}
			if len(c.Logs) != 1 || c.Logs[0].Fields["event"] != "exception" || c.Logs[0].Fields["exception.message"] != "boom" {
				t.Errorf("child logs = %+v, want one exception event with message boom", c.Logs)
			}
			if c.StartTime.Before(roots[0].StartTime) || c.Duration < 0 {
				t.Errorf("child timing %v+%v outside root start %v", c.StartTime, c.Duration, roots[0].StartTime)
			}

			traces, err := j.Traces(ctx, service)
			if err != nil {
				t.Fatalf("search traces: %v", err)
			}
			if len(traces) != 1 || traces[0].TraceID != traceID {
				t.Errorf("search by service %s found %d traces, want only %s", service, len(traces), traceID)
			}
			services, err := j.Services(ctx)
			if err != nil {
				t.Fatalf("services: %v", err)
			}
			if !slices.Contains(services, service) {
				t.Errorf("services = %v, want %s among them", services, service)
			}
		})
	}
}

func TestJaegerTraceReportsUnknownIDAsNotFound(t *testing.T) {
	j := Jaeger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := j.Trace(ctx, "4bf92f3577b34da6a3ce929d0e0e4736")
	if !errors.Is(err, ErrTraceNotFound) {
		t.Fatalf("Trace(unknown) error = %v, want ErrTraceNotFound", err)
	}
	traces, err := j.Traces(ctx, "no-such-service")
	if err != nil || len(traces) != 0 {
		t.Fatalf("Traces(no-such-service) = %d traces, %v; want none and no error", len(traces), err)
	}
}

// fatalRecorder is a testing.TB whose Fatal ends only the calling goroutine
// and records the message, so a test can check how a helper fails.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func TestJaegerFailsWithFixWhenBinaryMissing(t *testing.T) {
	t.Setenv("FAASFLOW_JAEGER_BIN", t.TempDir()+"/no-such-jaeger")
	rec := &fatalRecorder{TB: t}
	done := make(chan *JaegerServer)
	go func() {
		defer close(done)
		done <- Jaeger(rec)
	}()
	if j, ok := <-done; ok {
		t.Fatalf("Jaeger with a missing binary returned %+v, want a test failure", j)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !strings.Contains(rec.msg, "no-such-jaeger") || !strings.Contains(rec.msg, "scripts/deps.sh") {
		t.Fatalf("failure message %q should name the binary and the fix scripts/deps.sh", rec.msg)
	}
}

func TestJaegerBinaryPathFromEnvironment(t *testing.T) {
	tests := []struct {
		name, bin, cache, want string
	}{
		{"explicit binary wins", "/opt/jaeger", "/c", "/opt/jaeger"},
		{"cache directory", "", "/c", "/c/bin/jaeger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FAASFLOW_JAEGER_BIN", tt.bin)
			t.Setenv("FAASFLOW_CACHE", tt.cache)
			if got := JaegerBinary(); got != tt.want {
				t.Fatalf("JaegerBinary() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("home cache by default", func(t *testing.T) {
		t.Setenv("FAASFLOW_JAEGER_BIN", "")
		t.Setenv("FAASFLOW_CACHE", "")
		t.Setenv("HOME", "/home/u")
		if got, want := JaegerBinary(), "/home/u/.cache/faasflow/bin/jaeger"; got != want {
			t.Fatalf("JaegerBinary() = %q, want %q", got, want)
		}
	})
}

// A query API response as Jaeger v2 sends it: ids without leading zero
// words, an int64 beyond JavaScript's safe range sent as a string, a binary
// tag, processes referenced by id, a FOLLOWS_FROM link next to the parent.
const jaegerFixture = `{"data":[{"traceID":"00000000000000000000000000000abc","spans":[
 {"traceID":"abc","spanID":"2","operationName":"child","references":[
   {"refType":"FOLLOWS_FROM","traceID":"def","spanID":"9"},
   {"refType":"CHILD_OF","traceID":"abc","spanID":"1"}],
  "startTime":1700000000000002,"duration":5,
  "tags":[{"key":"big","type":"int64","value":"9007199254740993"},{"key":"small","type":"int64","value":7},
   {"key":"ratio","type":"float64","value":0.5},{"key":"raw","type":"binary","value":"aGk="},
   {"key":"error","type":"bool","value":true}],
  "logs":[{"timestamp":1700000000000003,"fields":[{"key":"event","type":"string","value":"exception"}]}],
  "processID":"p1","warnings":null},
 {"traceID":"abc","spanID":"1","operationName":"root","references":[],"startTime":1700000000000000,"duration":10,
  "tags":[],"logs":[],"processID":"p1","warnings":null}],
 "processes":{"p1":{"serviceName":"svc","tags":[{"key":"host.name","type":"string","value":"h"}]}},"warnings":null}],
 "total":0,"limit":0,"offset":0,"errors":null}`

func TestJaegerTraceDecodingNormalisesIDsTagsAndParents(t *testing.T) {
	var resp jaegerTracesResponse
	if err := decodeJaegerJSON([]byte(jaegerFixture), &resp); err != nil {
		t.Fatal(err)
	}
	tr, err := resp.Data[0].decode()
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "00000000000000000000000000000abc"
	if tr.TraceID != traceID || len(tr.Spans) != 2 {
		t.Fatalf("trace = %s with %d spans", tr.TraceID, len(tr.Spans))
	}
	root, child := tr.Spans[0], tr.Spans[1] // ordered by start time
	if root.SpanID != "0000000000000001" || root.ParentSpanID != "" || root.ServiceName != "svc" {
		t.Errorf("root = %+v", root)
	}
	if child.ParentSpanID != "0000000000000001" || len(child.References) != 2 {
		t.Errorf("child parent = %q refs %+v, want the CHILD_OF span 1", child.ParentSpanID, child.References)
	}
	wantTags := map[string]any{"big": int64(9007199254740993), "small": int64(7), "ratio": 0.5, "error": true}
	for k, want := range wantTags {
		if got := child.Tags[k]; got != want {
			t.Errorf("tag %s = %#v, want %#v", k, got, want)
		}
	}
	if got := child.TagString("raw"); got != "hi" {
		t.Errorf("binary tag = %q, want hi", got)
	}
	if !child.IsError() || root.IsError() {
		t.Errorf("IsError: child %v root %v, want true false", child.IsError(), root.IsError())
	}
	if child.ProcessTags["host.name"] != "h" {
		t.Errorf("process tags = %v", child.ProcessTags)
	}
	if want := time.UnixMicro(1700000000000002).UTC(); !child.StartTime.Equal(want) || child.Duration != 5*time.Microsecond {
		t.Errorf("child timing = %v +%v", child.StartTime, child.Duration)
	}
	if len(child.Logs) != 1 || child.Logs[0].Fields["event"] != "exception" {
		t.Errorf("child logs = %+v", child.Logs)
	}
}

func TestJaegerTraceDecodingRejectsMistypedTags(t *testing.T) {
	tests := []struct{ name, tag string }{
		{"bool as string", `{"key":"k","type":"bool","value":"yes"}`},
		{"int64 as bool", `{"key":"k","type":"int64","value":true}`},
		{"int64 not a number", `{"key":"k","type":"int64","value":"x"}`},
		{"float64 as string", `{"key":"k","type":"float64","value":"0.5"}`},
		{"binary not base64", `{"key":"k","type":"binary","value":"***"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"data":[{"traceID":"a","spans":[{"traceID":"a","spanID":"1","tags":[` + tt.tag + `]}]}]}`
			var resp jaegerTracesResponse
			if err := decodeJaegerJSON([]byte(body), &resp); err != nil {
				t.Fatal(err)
			}
			if _, err := resp.Data[0].decode(); err == nil {
				t.Fatalf("decode accepted %s", tt.tag)
			}
		})
	}
}

func FuzzJaegerTraceDecoding(f *testing.F) {
	f.Add([]byte(jaegerFixture))
	f.Add([]byte(`{"data":[{"traceID":"","spans":[{"startTime":-1,"duration":"x"}]}]}`))
	f.Add([]byte(`{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp jaegerTracesResponse
		if decodeJaegerJSON(body, &resp) != nil {
			return
		}
		for _, raw := range resp.Data {
			tr, err := raw.decode()
			if err != nil {
				continue
			}
			for _, s := range tr.Spans {
				if len(s.SpanID) < 16 || len(s.TraceID) < 32 {
					t.Fatalf("ids not normalised: %q %q", s.TraceID, s.SpanID)
				}
			}
		}
	})
}
