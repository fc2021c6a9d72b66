package queue

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return js
}

func startWorker(t *testing.T, js jetstream.JetStream, o WorkerOptions) *Worker {
	t.Helper()
	if o.InitialRetryWait == 0 {
		o.InitialRetryWait = 20 * time.Millisecond
	}
	if o.MaxRetryWait == 0 {
		o.MaxRetryWait = 100 * time.Millisecond
	}
	w, err := NewWorker(context.Background(), js, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w
}

type callback struct {
	header http.Header
	body   string
}

func callbackServer(t *testing.T) (*url.URL, chan callback) {
	t.Helper()
	ch := make(chan callback, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- callback{r.Header.Clone(), string(b)}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/cb/here")
	return u, ch
}

func waitCallback(t *testing.T, ch chan callback) callback {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no callback within 15s")
	}
	return callback{}
}

func publish(t *testing.T, js jetstream.JetStream, req queuemsg.Request, callID string) {
	t.Helper()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if callID != "" {
		req.Header.Set(api.HeaderCallID, callID)
	}
	if err := natsqueue.NewPublisher(js, nil).Publish(context.Background(), req, callID); err != nil {
		t.Fatal(err)
	}
}

// gatewayModes reach a gateway handler the two ways a worker can: over
// HTTP at GatewayURL, and in-process through WorkerOptions.Handler.
var gatewayModes = []struct {
	name string
	opts func(t *testing.T, h http.Handler) WorkerOptions
}{
	{"over HTTP", func(t *testing.T, h http.Handler) WorkerOptions {
		gw := httptest.NewServer(h)
		t.Cleanup(gw.Close)
		return WorkerOptions{GatewayURL: gw.URL}
	}},
	{"in-process handler", func(t *testing.T, h http.Handler) WorkerOptions {
		return WorkerOptions{Handler: h}
	}},
}

// the worker always POSTs and the callback carries the function's
// headers plus X-Call-Id, X-Function-Status, X-Function-Name, X-Duration-Seconds.
func TestWorkerAlwaysPostsAndCallbackCarriesFunctionHeaders(t *testing.T) {
	for _, m := range gatewayModes {
		t.Run(m.name, func(t *testing.T) {
			js := startJS(t)
			var got atomic.Value
			o := m.opts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got.Store(fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Custom"), b))
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Fn-Header", "yes")
				w.WriteHeader(201)
				io.WriteString(w, `{"ok":true}`)
			}))
			cb, ch := callbackServer(t)
			startWorker(t, js, o)
			publish(t, js, queuemsg.Request{Function: "fn.openfaas-fn", Method: "PUT", Path: "/sub/p", QueryString: "q=1",
				Body: []byte("data"), Header: http.Header{"X-Custom": {"c1"}}, CallbackURL: cb}, "call-1")
			c := waitCallback(t, ch)
			if g := got.Load(); g != "POST /function/fn.openfaas-fn/sub/p?q=1 c1 data" {
				t.Errorf("function saw %q", g)
			}
			want := map[string]string{"X-Call-Id": "call-1", "X-Function-Status": "201", "X-Function-Name": "fn.openfaas-fn",
				"X-Fn-Header": "yes", "Content-Type": "application/json"}
			for k, v := range want {
				if c.header.Get(k) != v {
					t.Errorf("callback %s = %q, want %q", k, c.header.Get(k), v)
				}
			}
			if _, err := time.ParseDuration(c.header.Get("X-Duration-Seconds") + "s"); err != nil {
				t.Errorf("X-Duration-Seconds = %q", c.header.Get("X-Duration-Seconds"))
			}
			if c.body != `{"ok":true}` {
				t.Errorf("callback body = %q", c.body)
			}
		})
	}
}

func TestWorkerRetries5xxWithNakUntilSuccess(t *testing.T) {
	for _, m := range gatewayModes {
		t.Run(m.name, func(t *testing.T) {
			js := startJS(t)
			var calls atomic.Int32
			o := m.opts(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) < 3 {
					w.WriteHeader(502)
					return
				}
				io.WriteString(w, "finally")
			}))
			cb, ch := callbackServer(t)
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			startWorker(t, js, o)
			publish(t, js, queuemsg.Request{Function: "f", Method: "POST", CallbackURL: cb}, "c")
			c := waitCallback(t, ch)
			if c.header.Get("X-Function-Status") != "200" || c.body != "finally" || calls.Load() != 3 {
				t.Fatalf("callback %v %q after %d calls", c.header.Get("X-Function-Status"), c.body, calls.Load())
			}
			select {
			case extra := <-ch:
				t.Fatalf("second callback %v", extra.header)
			case <-time.After(200 * time.Millisecond):
			}
			if n := counterValue(t, reg, "faasflow_queue_redeliveries_total"); n != 2 {
				t.Errorf("redeliveries = %v, want 2", n)
			}
		})
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestWorkerHonoursRetryAfterOn503(t *testing.T) {
	js := startJS(t)
	var mu sync.Mutex
	var times []time.Time
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer gw.Close()
	cb, ch := callbackServer(t)
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL})
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	waitCallback(t, ch)
	mu.Lock()
	defer mu.Unlock()
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Fatalf("retried after %s, want >= Retry-After 1s (backoff alone is 20ms)", gap)
	}
}

func TestWorkerGivesUpAfterMaxDeliverAndReportsFailure(t *testing.T) {
	js := startJS(t)
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
		io.WriteString(w, "boom")
	}))
	defer gw.Close()
	cb, ch := callbackServer(t)
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, MaxDeliver: 3})
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	c := waitCallback(t, ch)
	if c.header.Get("X-Function-Status") != "500" || c.body != "boom" {
		t.Fatalf("final callback %v %q", c.header.Get("X-Function-Status"), c.body)
	}
	time.Sleep(300 * time.Millisecond)
	if calls.Load() != 3 {
		t.Fatalf("calls = %d, want MaxDeliver 3", calls.Load())
	}
}

func TestUnreachableGatewayIsRetriedThenReported503(t *testing.T) {
	js := startJS(t)
	gw := httptest.NewServer(http.NotFoundHandler())
	dead := gw.URL
	gw.Close()
	cb, ch := callbackServer(t)
	startWorker(t, js, WorkerOptions{GatewayURL: dead, MaxDeliver: 2})
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	c := waitCallback(t, ch)
	if c.header.Get("X-Function-Status") != "503" || c.body != "" {
		t.Fatalf("callback %v %q", c.header.Get("X-Function-Status"), c.body)
	}
}

func TestMessageOfDeadWorkerIsRedeliveredAfterAckWait(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ackWait := time.Second
	// A worker that takes a message through the lane of its function and
	// dies before acking.
	cons, err := js.CreateOrUpdateConsumer(ctx, queuemsg.StreamName, jetstream.ConsumerConfig{
		Durable: laneName(queuemsg.Subject("f")), FilterSubject: queuemsg.Subject("f"), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: ackWait, MaxDeliver: 10, MaxAckPending: 1000, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	cb, ch := callbackServer(t)
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}
	taken := time.Now()
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done") }))
	defer gw.Close()
	reg := prometheus.NewRegistry()
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, AckWait: ackWait, Registerer: reg})
	c := waitCallback(t, ch)
	if c.body != "done" || time.Since(taken) < 900*time.Millisecond {
		t.Fatalf("callback %q after %s", c.body, time.Since(taken))
	}
	if n := counterValue(t, reg, "faasflow_queue_redeliveries_total"); n != 1 {
		t.Errorf("redeliveries = %v, want 1", n)
	}
}

func TestWorkerBoundsCallsInFlight(t *testing.T) {
	js := startJS(t)
	var cur, peak atomic.Int32
	var done atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(150 * time.Millisecond)
		cur.Add(-1)
		done.Add(1)
	}))
	defer gw.Close()
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, Concurrency: 2})
	for i := range 6 {
		publish(t, js, queuemsg.Request{Function: "f"}, fmt.Sprintf("c%d", i))
	}
	deadline := time.Now().Add(15 * time.Second)
	for done.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if done.Load() != 6 || peak.Load() != 2 {
		t.Fatalf("done %d, peak concurrency %d, want 6 and 2", done.Load(), peak.Load())
	}
}

func TestTraceContextTravelsThroughNATSHeaders(t *testing.T) {
	js := startJS(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	seen := make(chan string, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Get("Traceparent") }))
	defer gw.Close()
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, TracerProvider: tp})
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	if err := natsqueue.NewPublisher(js, tp).Publish(ctx, queuemsg.Request{Function: "f"}, "t1"); err != nil {
		t.Fatal(err)
	}
	root.End()
	var tp1 string
	select {
	case tp1 = <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("function not invoked")
	}
	traceID := root.SpanContext().TraceID().String()
	if !strings.Contains(tp1, traceID) {
		t.Fatalf("traceparent %q does not carry trace %s", tp1, traceID)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			if s.Name() == "queue.process f" {
				if s.SpanKind() != trace.SpanKindConsumer || s.SpanContext().TraceID().String() != traceID {
					t.Fatalf("process span %v in trace %s", s.SpanKind(), s.SpanContext().TraceID())
				}
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no queue.process span recorded")
}

func TestRetryAfterParsesSecondsAndDates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
	}
	for _, tc := range tests {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %s %v", tc.in, got, ok)
		}
	}
}
