package runtime_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/queue"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
)

// A hop published by NATSTransport reaches the flow's forward route through
// the local gateway's real queue worker, exactly as a hop posted to the
// gateway's async endpoint would.
func TestNATSTransportHopReachesTheFlowThroughTheQueueWorker(t *testing.T) {
	js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := queue.EnsureStream(ctx, js, queue.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	type call struct{ method, path, ct, reqID, body string }
	got := make(chan call, 4)
	w, err := queue.NewWorker(ctx, js, queue.WorkerOptions{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- call{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get(runtime.HeaderRequestID), string(b)}
		w.WriteHeader(http.StatusAccepted)
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })

	tr, err := runtime.NewNATSTransport(js.Conn().ConnectedUrl(), "my-flow", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Forward(ctx, "req-1", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	want := call{"POST", "/function/my-flow/flow/req-1/forward", "application/json", "req-1", `{"v":1}`}
	select {
	case c := <-got:
		if c != want {
			t.Fatalf("flow got %+v, want %+v", c, want)
		}
	case <-ctx.Done():
		t.Fatal("the hop never reached the flow")
	}
	select {
	case c := <-got:
		t.Fatalf("hop delivered twice: %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNATSTransportFailsWithErrForwardWhenNATSIsDown(t *testing.T) {
	tr, err := runtime.NewNATSTransport("nats://127.0.0.1:1", "my-flow", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	err = tr.Forward(context.Background(), "req-1", []byte("{}"))
	if !errors.Is(err, runtime.ErrForward) {
		t.Fatalf("err = %v, want ErrForward", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Forward took %s with a 300ms timeout", el)
	}
}

func TestNATSTransportRejectsAHopTooLargeForTheQueueAtOnce(t *testing.T) {
	tr, err := runtime.NewNATSTransport("nats://127.0.0.1:1", "my-flow", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	err = tr.Forward(context.Background(), "req-1", make([]byte, queue.MaxBodyBytes+1))
	if !errors.Is(err, runtime.ErrForward) || !errors.Is(err, queue.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrForward wrapping queue.ErrTooLarge", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("a hop too large was retried for %s", el)
	}
}
