package natsqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/transport/natsqueue"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

func TestNATSTransportFailsWithErrNotPublishedWhenNATSIsDown(t *testing.T) {
	tr, err := natsqueue.NewTransport("nats://127.0.0.1:1", "my-flow", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	err = tr.Send(context.Background(), "req-1", []byte("{}"))
	if !errors.Is(err, natsqueue.ErrNotPublished) {
		t.Fatalf("err = %v, want ErrNotPublished", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Forward took %s with a 300ms timeout", el)
	}
}

func TestNATSTransportRejectsAHopTooLargeForTheQueueAtOnce(t *testing.T) {
	tr, err := natsqueue.NewTransport("nats://127.0.0.1:1", "my-flow", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	err = tr.Send(context.Background(), "req-1", make([]byte, queuemsg.MaxBodyBytes+1))
	if !errors.Is(err, natsqueue.ErrNotPublished) || !errors.Is(err, queuemsg.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrNotPublished wrapping queuemsg.ErrTooLarge", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a hop too large was retried for %s", el)
	}
}

func TestNATSTransportGivesUpAtOnceWhenTheFlowsQueueIsFull(t *testing.T) {
	js := startBoundedStream(t, 1)
	tr, err := natsqueue.NewTransport(js.Conn().ConnectedUrl(), "my-flow", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(context.Background(), "req-1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = tr.Send(context.Background(), "req-2", []byte("{}"))
	if !errors.Is(err, natsqueue.ErrNotPublished) || !errors.Is(err, natsqueue.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrNotPublished wrapping ErrQueueFull", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a refused hop was retried for %s", el)
	}
}
