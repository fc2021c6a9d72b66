package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

func TestEnsureStreamBoundsEachFunctionAndKeepsABacklogAboveTheBound(t *testing.T) {
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// An unbounded stream with three calls of f queued.
	if _, err := EnsureStream(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	p := natsqueue.NewPublisher(js, nil)
	for i := range 3 {
		publish(t, js, queuemsg.Request{Function: "f"}, fmt.Sprintf("f%d", i))
	}
	// Bounded to 2 per function: the three stay, and the bound is raised
	// to 3 until the next start, for every function.
	if _, err := EnsureStream(ctx, js, StreamOptions{MaxPerSubject: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Queued(ctx, "f"); err != nil || n != 3 {
		t.Fatalf("f has %d calls queued (%v), want the 3 it had", n, err)
	}
	tests := []struct {
		fn, id   string
		wantFull bool
	}{
		{"f", "f3", true},
		{"g", "g0", false},
		{"g", "g1", false},
		{"g", "g2", false},
		{"g", "g3", true},
	}
	for _, tc := range tests {
		err := p.Publish(ctx, queuemsg.Request{Function: tc.fn}, tc.id)
		if full := errors.Is(err, natsqueue.ErrQueueFull); full != tc.wantFull || (!tc.wantFull && err != nil) {
			t.Errorf("publish %s: %v, want ErrQueueFull: %v", tc.id, err, tc.wantFull)
		}
	}
}
