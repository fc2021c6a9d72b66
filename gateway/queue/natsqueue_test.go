package queue_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/queue"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
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
		got <- call{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("X-Faas-Flow-Reqid"), string(b)}
		w.WriteHeader(http.StatusAccepted)
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })

	tr, err := natsqueue.NewTransport(js.Conn().ConnectedUrl(), "my-flow", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Send(ctx, "req-1", []byte(`{"v":1}`)); err != nil {
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
