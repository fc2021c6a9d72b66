package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// overrunFlow: a -> b, where b has a 300 ms timeout and its modifier, by
// input, never returns until release is closed ("deaf") or returns 300 ms
// late ("late"); node c, with no timeout, takes 2 s for input "slow" and
// signals slowBegan when it begins.
func overrunFlow(release <-chan struct{}, slowBegan chan<- struct{}) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		d := flow.Dag()
		d.Node("a").Modify(func(in []byte) ([]byte, error) { return in, nil })
		d.Node("b", faasflow.NodeTimeout(300*time.Millisecond)).Modify(func(in []byte) ([]byte, error) {
			switch {
			case bytes.HasPrefix(in, []byte("deaf")):
				<-release
			case bytes.HasPrefix(in, []byte("late")):
				time.Sleep(600 * time.Millisecond)
			}
			return in, nil
		})
		d.Node("c").Modify(func(in []byte) ([]byte, error) {
			if bytes.HasPrefix(in, []byte("slow")) {
				slowBegan <- struct{}{}
				time.Sleep(2 * time.Second)
			}
			return in, nil
		})
		d.Edge("a", "b")
		d.Edge("b", "c")
		return nil
	}
}

// TestServeExitsOnlyWhenCodeKeepsRunningPastItsTimeoutAndGrace serves a
// flow on a listener, with a request in flight in a slow but healthy node,
// then sends a request whose node times out. When its code never returns,
// Serve drains (the request in flight still succeeds, the timed-out one is
// recorded as failed) and returns ErrOverrun, well before the 10 s
// healthcheck_interval; when the code returns within overrun_exit_grace
// (1 s), Serve goes on serving.
func TestServeExitsOnlyWhenCodeKeepsRunningPastItsTimeoutAndGrace(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		wantExit bool
	}{
		{"code deaf to its timeout makes the process exit", "deaf", true},
		{"code that returns within the grace does not", "late", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			slowBegan := make(chan struct{}, 1)
			srv, base, done := serveOverrunFlow(t, overrunFlow(release, slowBegan))
			slowID := startRequest(t, base, "slow")
			select {
			case <-slowBegan:
			case <-time.After(10 * time.Second):
				t.Fatal("the slow request's node did not begin")
			}
			started := time.Now()
			id := startRequest(t, base, tt.input)
			select {
			case err := <-done:
				done <- err // for the cleanup
				t.Logf("Serve returned %s after the request", time.Since(started))
				if !tt.wantExit {
					t.Fatalf("Serve returned (%v), want it to go on serving", err)
				}
				if !errors.Is(err, runtime.ErrOverrun) || !strings.Contains(err.Error(), "modifier of b") {
					t.Fatalf("Serve: %v, want ErrOverrun naming the modifier of b", err)
				}
				if el := time.Since(started); el > 9*time.Second {
					t.Fatalf("Serve returned %s after the request: the drain did not shorten to the grace", el)
				}
			case <-time.After(wait(tt.wantExit)):
				if tt.wantExit {
					t.Fatal("Serve still serving 15 s after the code overran its timeout")
				}
			}
			wantState(t, srv, slowID, engine.StateSucceeded, "")
			wantState(t, srv, id, engine.StateFailed, "timed out")
		})
	}
}

// wait is how long to watch Serve: long enough on a busy machine for an
// exit that should come (at about 2.5 s), and twice the time one would
// take for one that should not.
func wait(exit bool) time.Duration {
	if exit {
		return 15 * time.Second
	}
	return 5 * time.Second
}

// serveOverrunFlow runs define on a listener with overrun_exit_grace 1s
// and healthcheck_interval 10s; done receives what Serve returns.
func serveOverrunFlow(t *testing.T, define faasflow.DefineFunc) (*runtime.Server, string, chan error) {
	t.Helper()
	gw := fakegateway.New(t, "testflow")
	cfg, err := runtime.LoadConfig(envOf(map[string]string{
		"flow_name": "testflow", "gateway": gw.URL(), "state_store": "memory", "data_store": "memory",
		"healthcheck_interval": "10s", "write_timeout": "20s", "overrun_exit_grace": "1s",
	}), runtime.MapSecrets{"faasflow-hmac-secret": testKey})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := runtime.NewServer(cfg, define, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	base := "http://" + ln.Addr().String()
	gw.SetFlowURL(base)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		gw.Drain()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return srv, base, done
}

// startRequest starts a request of the flow at base and returns its id.
func startRequest(t *testing.T, base, body string) string {
	t.Helper()
	r := fakegateway.Do(t, http.MethodPost, base+"/", []byte(body))
	id := r.Header.Get("X-Faas-Flow-Reqid")
	if r.Status != http.StatusAccepted || id == "" {
		t.Fatalf("start %q: %d %s", body, r.Status, r.Body)
	}
	return id
}

// wantState waits until request id has ended in state, with an error
// holding errPart.
func wantState(t *testing.T, srv *runtime.Server, id, state, errPart string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		rec, err := srv.Engine().State(ctx, id)
		if err == nil && rec.State == state && strings.Contains(rec.Error, errPart) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("request %s: %+v, %v; want %s (%q)", id, rec, err, state, errPart)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOverrunExitGraceDefaultsToTenSecondsAndZeroTurnsTheExitOff(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantGrace time.Duration
	}{
		{"default", map[string]string{}, 10 * time.Second},
		{"set", map[string]string{"overrun_exit_grace": "2s"}, 2 * time.Second},
		{"seconds", map[string]string{"overrun_exit_grace": "30"}, 30 * time.Second},
		{"off", map[string]string{"overrun_exit_grace": "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := runtime.LoadConfig(envOf(tt.env), runtime.MapSecrets{})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OverrunGrace != tt.wantGrace {
				t.Fatalf("OverrunGrace = %s, want %s", cfg.OverrunGrace, tt.wantGrace)
			}
			srv, err := runtime.NewServer(cfg, syncFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close(context.Background())
			if watched := srv.Engine().Options().OnOverrun != nil; watched != (tt.wantGrace > 0) {
				t.Fatalf("overruns watched: %v, want %v", watched, tt.wantGrace > 0)
			}
		})
	}
	if _, err := runtime.LoadConfig(envOf(map[string]string{"overrun_exit_grace": "-1s"}), runtime.MapSecrets{}); err == nil {
		t.Fatal("a negative overrun_exit_grace was accepted")
	}
}
