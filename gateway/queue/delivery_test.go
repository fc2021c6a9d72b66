package queue

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// streamEmpty waits until the stream holds no message (every one
// acknowledged or terminated).
func streamEmpty(t *testing.T, w *Worker) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pending, ackPending, err := w.backlog(context.Background())
		if err == nil && pending == 0 && ackPending == 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestAtMostOnceCallsOnceWhateverTheOutcomeOneCallAtATime(t *testing.T) {
	js := startJS(t)
	var calls, inFlight, peak atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		w.WriteHeader(http.StatusServiceUnavailable) // would be retried at least once
		io.WriteString(w, "busy")
	}))
	defer gw.Close()
	cb, ch := callbackServer(t)
	w := startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, AtMostOnce: true, Concurrency: 8})
	for _, id := range []string{"a", "b", "c", "d"} {
		publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, id)
	}
	for range 4 {
		if c := waitCallback(t, ch); c.header.Get("X-Function-Status") != "503" {
			t.Fatalf("callback status %s", c.header.Get("X-Function-Status"))
		}
	}
	time.Sleep(300 * time.Millisecond) // what a retry would have taken
	if calls.Load() != 4 || peak.Load() != 1 {
		t.Fatalf("%d calls with at most %d at once; want 4 (no retry), one at a time", calls.Load(), peak.Load())
	}
	if !streamEmpty(t, w) {
		t.Fatal("messages left in the stream: acknowledged before the call means gone")
	}
}

func TestFailRateFailsCallsWithoutReachingTheFunction(t *testing.T) {
	js := startJS(t)
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer gw.Close()
	cb, ch := callbackServer(t)
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, AtMostOnce: true, FailRate: 0.5, FailSeed: 3})
	const n = 40
	for i := range n {
		publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, string(rune('A'+i)))
	}
	failed := 0
	for range n {
		if waitCallback(t, ch).header.Get("X-Function-Status") == "502" {
			failed++
		}
	}
	if failed == 0 || failed == n || int(calls.Load()) != n-failed {
		t.Fatalf("%d of %d calls failed on purpose, %d reached the function", failed, n, calls.Load())
	}
}

func TestDuplicateRateMakesEachCallTwiceAtOnceAndSettlesOnTheFinalAnswer(t *testing.T) {
	js := startJS(t)
	var calls, inFlight, peak atomic.Int32
	// The two copies of a call meet: the first to arrive holds the call
	// (503, as a flow answers a hop whose node another delivery holds),
	// and the second runs it (200).
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		time.Sleep(50 * time.Millisecond)
		if n%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ran")
	}))
	defer gw.Close()
	cb, ch := callbackServer(t)
	w := startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, Concurrency: 1, DuplicateRate: 1})
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "dup")
	c := waitCallback(t, ch)
	if c.header.Get("X-Function-Status") != "200" || c.body != "ran" {
		t.Fatalf("callback %s %q, want the copy that ran (200)", c.header.Get("X-Function-Status"), c.body)
	}
	if !streamEmpty(t, w) {
		t.Fatal("the message was not settled by the copy that ran")
	}
	if calls.Load() != 2 || peak.Load() != 2 {
		t.Fatalf("%d calls, at most %d at once; want the 2 copies at once", calls.Load(), peak.Load())
	}
}
