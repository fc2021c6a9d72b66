package runtime_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// twoNodeFlow is a -> b, both passing their input on.
func twoNodeFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("b").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Edge("a", "b")
	return nil
}

func TestANewRequestPastMaxRunningRequestsIsAnswered429AndHopsStillRun(t *testing.T) {
	f := startFlow(t, twoNodeFlow, map[string]string{"max_running_requests": "2"})
	f.gw.SetHold(true) // the requests stay running until their hops are delivered
	for i := range 2 {
		if r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")); r.Status != http.StatusAccepted {
			t.Fatalf("request %d: %d %s, want 202", i, r.Status, r.Body)
		}
	}
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: %d Retry-After %q %s, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if m := r.JSON(t); m["status"].(float64) != 429 {
		t.Fatalf("body %s", r.Body)
	}
	held := f.gw.TakeHeld()
	if len(held) != 2 {
		t.Fatalf("%d hops held, want 2", len(held))
	}
	for _, h := range held {
		if code := f.gw.Deliver(h.ID, h.Body); code != http.StatusOK {
			t.Fatalf("hop of a running request answered %d, want 200", code)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
		if r.Status == http.StatusAccepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("once the requests ended, a new one: %d %s, want 202", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxRunningRequestsBoundsTheCallsASyncFlowAnswersAtOnce(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		flow.SyncNode().Modify(func(d []byte) ([]byte, error) { entered <- struct{}{}; <-release; return d, nil })
		return nil
	}
	f := startFlow(t, slow, map[string]string{"max_running_requests": "1"})
	first := make(chan int, 1)
	go func() { first <- fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")).Status }()
	<-entered
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
	close(release)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("second call: %d Retry-After %q, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first call: %d, want 200", code)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")); r.Status != http.StatusOK {
		t.Fatalf("a call after the first ended: %d, want 200", r.Status)
	}
}
