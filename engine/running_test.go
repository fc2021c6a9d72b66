package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

func TestRunningCountsTheRequestsStartedAndNotYetEnded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	release := make(chan struct{})
	define := func(flow *sdk.Workflow, _ *sdk.Context) error {
		d := flow.Dag()
		d.Node("first").Modify(func(b []byte) ([]byte, error) { return b, nil })
		d.Node("held").Modify(func(b []byte) ([]byte, error) { <-release; return b, nil })
		d.Edge("first", "held")
		return nil
	}
	h, err := flowtest.New(define, flowtest.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	count := func() int {
		t.Helper()
		n, err := h.Engine.Running(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("before any start: Running = %d, want 0", n)
	}
	var ids []string
	for range 2 {
		res, err := h.Engine.Start(ctx, engine.StartRequest{Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	if n := count(); n != 2 {
		t.Fatalf("with two requests held: Running = %d, want 2", n)
	}
	close(release)
	for _, id := range ids {
		if _, err := h.Await(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); count() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after both ended: Running = %d, want 0", count())
		}
	}
}
