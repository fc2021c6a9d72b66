package runtime_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// flakyFlow is a -> b where b fails its first attempt and is retried.
func flakyFlow(calls *atomic.Int32) faasflow.DefineFunc {
	return func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		dag := flow.Dag()
		dag.Node("a").Modify(func(d []byte) ([]byte, error) { return d, nil })
		dag.Node("b", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Millisecond})).
			Modify(func(d []byte) ([]byte, error) {
				if calls.Add(1) == 1 {
					return nil, errors.New("first try fails")
				}
				return d, nil
			})
		dag.Edge("a", "b")
		return nil
	}
}

// logLines decodes the JSON lines of buf that name request id.
func logLines(t *testing.T, buf *testenv.Buffer, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m[runtime.LogKeyRequestID] == id {
			out = append(out, m)
		}
	}
	return out
}

func TestTheRequestLogHasALinePerNodeRunAndTheRequestsStartAndEnd(t *testing.T) {
	var calls atomic.Int32
	var buf testenv.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f := startFlow(t, flakyFlow(&calls), nil, runtime.WithLogger(log))
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
	id := r.Header.Get(runtime.HeaderRequestID)
	if r.Status != http.StatusAccepted || id == "" {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	fakegateway.WaitState(t, f.base, id, "succeeded")
	f.gw.Drain()
	var got []string
	for _, m := range logLines(t, &buf, id) {
		line := m["msg"].(string)
		if m["node"] != nil {
			line += " " + m["node"].(string) + " " + m["outcome"].(string)
			if m["attempt"].(float64) < 1 || m["duration"] == nil {
				t.Errorf("node line without attempt or duration: %v", m)
			}
			line += strings.Repeat("+", int(m["attempt"].(float64)))
		}
		if m["msg"] == "request ended" {
			line += " " + m["state"].(string)
		}
		got = append(got, line)
	}
	want := []string{"request started", "node ended a succeeded+", "node ended b retried+", "node ended b succeeded++", "request ended succeeded"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("request log of %s:\n%s\nwant\n%s\nall lines:\n%s", id, strings.Join(got, "\n"), strings.Join(want, "\n"), buf.String())
	}
	for _, m := range logLines(t, &buf, id) {
		if m["outcome"] == runtime.OutcomeRetried && (m["error"] == nil || !strings.Contains(m["error"].(string), "first try fails") || m["level"] != "WARN") {
			t.Fatalf("retried line: %v", m)
		}
	}
}

func TestTheRequestLogIsSilentWhenTheLevelIsOff(t *testing.T) {
	var calls atomic.Int32
	var buf testenv.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	f := startFlow(t, flakyFlow(&calls), nil, runtime.WithLogger(log))
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
	fakegateway.WaitState(t, f.base, r.Header.Get(runtime.HeaderRequestID), "succeeded")
	f.gw.Drain()
	if strings.Contains(buf.String(), runtime.LogKeyRequestID) {
		t.Fatalf("log_level=error wrote request lines:\n%s", buf.String())
	}
}
