package engine_test

import (
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

// TestOverrunIsReportedOnlyForCodeStillRunningPastItsTimeout runs a node
// with a timeout whose modifier either ignores its deadline (it goes on
// until released) or returns in time: only the first is reported to
// OnOverrun, naming the request and the node, with a Done channel that is
// closed once the code returns at last.
func TestOverrunIsReportedOnlyForCodeStillRunningPastItsTimeout(t *testing.T) {
	tests := []struct {
		name        string
		deaf        bool
		wantState   string
		wantOverrun bool
	}{
		{"code deaf to its deadline is reported", true, engine.StateFailed, true},
		{"code that returns in time is not", false, engine.StateSucceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			define := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
				d := flow.Dag()
				d.Node("a").Modify(testflow.AppendMod(""))
				d.Node("stuck", faasflow.NodeTimeout(50*time.Millisecond)).Modify(func(in []byte) ([]byte, error) {
					if tt.deaf {
						<-release
					}
					return in, nil
				})
				d.Edge("a", "stuck")
				return nil
			}
			overruns := make(chan engine.Overrun, 4)
			h := newHarness(t, define, flowtest.WithEngineOptions(func(o *engine.Options) {
				o.OnOverrun = func(ov engine.Overrun) { overruns <- ov }
			}))
			res, err := h.Run(ctxT(t), []byte("x"))
			close(release)
			if err != nil {
				t.Fatal(err)
			}
			if res.State != tt.wantState {
				t.Fatalf("state %s (%s), want %s", res.State, res.Err, tt.wantState)
			}
			select {
			case ov := <-overruns:
				if !tt.wantOverrun {
					t.Fatalf("reported %+v, want no overrun", ov)
				}
				if ov.Node != "stuck" || ov.RequestID != res.ID || ov.Where != "modifier of stuck" {
					t.Fatalf("overrun %+v, want node stuck of request %s", ov, res.ID)
				}
				select {
				case <-ov.Done:
				case <-time.After(10 * time.Second):
					t.Fatal("Done not closed after the code returned")
				}
			default:
				if tt.wantOverrun {
					t.Fatal("no overrun reported")
				}
			}
		})
	}
}
