package queue

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/transport/callbackguard"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

func TestWorkerRefusesCallbacksToProtectedServicesAndStillSettlesTheCall(t *testing.T) {
	tests := []struct {
		name    string
		allow   func(internal *httptest.Server) []string
		refused bool
	}{
		{"a callback to an internal service is refused", func(*httptest.Server) []string { return nil }, true},
		{"an allow-listed one is made", func(s *httptest.Server) []string {
			_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
			return []string{"localhost:" + port}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var internalHits atomic.Int32
			internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits.Add(1) }))
			t.Cleanup(internal.Close)
			g, err := callbackguard.New(callbackguard.Options{Protected: []string{internal.URL}, Allow: tt.allow(internal)})
			if err != nil {
				t.Fatal(err)
			}
			var calls atomic.Int32
			fn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1); io.WriteString(w, "done") })
			logs := &testenv.Buffer{}
			reg := prometheus.NewRegistry()
			js := startJS(t)
			startWorker(t, js, WorkerOptions{Handler: fn, CallbackGuard: g, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})

			// The callback is aimed at the internal service by a name, as
			// a caller would to slip past a check of the URL alone.
			_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
			target, _ := url.Parse("http://localhost:" + port + "/v3/kv/put")
			publish(t, js, queuemsg.Request{Function: "f", CallbackURL: target}, "to-internal")
			// An ordinary callback published after it still arrives.
			cb, ch := callbackServer(t)
			publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "ordinary")
			if c := waitCallback(t, ch); c.body != "done" {
				t.Fatalf("ordinary callback body = %q", c.body)
			}
			deadline := time.Now().Add(15 * time.Second)
			for settled(t, reg) < 2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := calls.Load(); n != 2 {
				t.Fatalf("the function was called %d times, want 2: a refused callback must not lose its call", n)
			}
			if got := settled(t, reg); got != 2 {
				t.Fatalf("%v messages settled, want 2", got)
			}
			if !tt.refused {
				for internalHits.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if got := internalHits.Load() > 0; got == tt.refused {
				t.Fatalf("the internal service got %d requests, want refused %v", internalHits.Load(), tt.refused)
			}
			if logged := strings.Contains(logs.String(), "callback refused"); logged != tt.refused {
				t.Fatalf("refusal logged %v, want %v; logs:\n%s", logged, tt.refused, logs)
			}
		})
	}
}

// settled is the count of messages the worker settled (0 before the first).
func settled(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "faasflow_queue_processed_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
