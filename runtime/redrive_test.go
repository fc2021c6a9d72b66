package runtime_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

// breakableFlow is start → a → b, where b fails while broken is set; it
// counts the runs of a and b.
type breakableFlow struct {
	broken       atomic.Bool
	runsA, runsB atomic.Int32
}

func (f *breakableFlow) define(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("start").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("a").Modify(func(d []byte) ([]byte, error) {
		f.runsA.Add(1)
		return append(d, 'a'), nil
	})
	dag.Node("b").Modify(func(d []byte) ([]byte, error) {
		f.runsB.Add(1)
		if f.broken.Load() {
			return nil, errors.New("b is broken")
		}
		return append(d, 'b'), nil
	})
	dag.Edge("start", "a")
	dag.Edge("a", "b")
	return nil
}

// redrive posts to /flow/{id}/redrive until the request has drained: a
// request that just failed answers 409 while its handlers still run.
func redrive(t *testing.T, base, id string) fakegateway.Result {
	t.Helper()
	var r fakegateway.Result
	defer func() {
		if t.Failed() {
			t.Logf("last answer %d %s; state %s", r.Status, r.Body, fakegateway.Do(t, http.MethodGet, base+"/flow/"+id+"/state", nil).Body)
		}
	}()
	waitFor(t, func() bool {
		r = fakegateway.Do(t, http.MethodPost, base+"/flow/"+id+"/redrive", nil)
		return r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "in flight")
	})
	return r
}

func TestRedriveRestartsAFailedRequestFromItsFailedNode(t *testing.T) {
	bf := &breakableFlow{}
	bf.broken.Store(true)
	f := startFlow(t, bf.define, nil)
	id := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")).JSON(t)["request_id"].(string)
	fakegateway.WaitState(t, f.base, id, "failed")

	bf.broken.Store(false)
	r := redrive(t, f.base, id)
	if r.Status != http.StatusOK || r.JSON(t)["redrives"] != float64(1) || r.JSON(t)["state"] != "running" {
		t.Fatalf("redrive: %d %s", r.Status, r.Body)
	}
	st := fakegateway.WaitState(t, f.base, id, "succeeded")
	if res := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/result", nil); res.Status != 200 || string(res.Body) != "xab" {
		t.Fatalf("result: %d %q", res.Status, res.Body)
	}
	if a, b := bf.runsA.Load(), bf.runsB.Load(); a != 1 || b != 2 {
		t.Fatalf("runs: a %d (want 1: it succeeded), b %d (want 2)", a, b)
	}
	if st["redrives"] != float64(1) {
		t.Fatalf("state counts %v redrives", st["redrives"])
	}
	b := st["nodes"].(map[string]any)["b"].(map[string]any)
	earlier, _ := b["earlier"].([]any)
	if b["status"] != "succeeded" || len(earlier) != 1 || earlier[0].(map[string]any)["status"] != "failed" {
		t.Fatalf("node b across the redrive: %v", b)
	}

	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/redrive", nil); r.Status != http.StatusConflict {
		t.Fatalf("redrive of a succeeded request: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/flow/nope/redrive", "/?redrive-flow=nope"} {
		if r := fakegateway.Do(t, http.MethodPost, f.base+path, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}

func TestRedriveIsRefusedWhenTheDefinitionChangedOrTheStateExpired(t *testing.T) {
	bf := &breakableFlow{}
	bf.broken.Store(true)
	state := statememory.New()
	shared := runtime.WithStateStore(func() (faasflow.StateStore, error) { return state, nil })
	f := startFlow(t, bf.define, map[string]string{"redrive_retention": "0"}, shared)
	id := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")).JSON(t)["request_id"].(string)
	fakegateway.WaitState(t, f.base, id, "failed")
	r := redrive(t, f.base, id)
	if r.Status != http.StatusConflict || r.JSON(t)["error"] == nil {
		t.Fatalf("redrive with redrive_retention=0: %d %s", r.Status, r.Body)
	}

	f = startFlow(t, bf.define, nil, shared)
	id = fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")).JSON(t)["request_id"].(string)
	fakegateway.WaitState(t, f.base, id, "failed")
	changed := startFlow(t, parallelFlow, nil, shared)
	r = redrive(t, changed.base, id)
	if r.Status != http.StatusConflict {
		t.Fatalf("redrive under a changed definition: %d %s", r.Status, r.Body)
	}
}
