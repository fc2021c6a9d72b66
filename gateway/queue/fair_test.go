package queue

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

func TestFairSlotsHandsSlotsOutInTheOrderTheyWereAskedFor(t *testing.T) {
	f := newFairSlots(1)
	ctx := context.Background()
	if !f.acquire(ctx) {
		t.Fatal("first acquire failed")
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.acquire(ctx)
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			f.release()
		}()
		// Each waiter asks before the next one does.
		for deadline := time.Now().Add(5 * time.Second); ; {
			f.mu.Lock()
			n := len(f.waiting)
			f.mu.Unlock()
			if n == i+1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if f.acquire(cctx) {
		t.Fatal("acquire with an ended context got a slot")
	}
	f.release()
	wg.Wait()
	if fmt.Sprint(order) != "[0 1 2]" {
		t.Fatalf("slots handed out in order %v, want [0 1 2]", order)
	}
}

func TestABacklogOfOneFunctionDoesNotHoldBackAnothersCalls(t *testing.T) {
	js := startJS(t)
	var slowDone atomic.Int32
	fastDone := make(chan time.Time, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/function/fast") {
			fastDone <- time.Now()
			return
		}
		time.Sleep(100 * time.Millisecond)
		slowDone.Add(1)
	}))
	defer gw.Close()
	const backlog = 60 // 3 s of calls at 2 at a time
	for i := range backlog {
		publish(t, js, queuemsg.Request{Function: "slow"}, fmt.Sprintf("s%d", i))
	}
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, Concurrency: 2})
	for slowDone.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	sent := time.Now()
	publish(t, js, queuemsg.Request{Function: "fast"}, "f")
	select {
	case at := <-fastDone:
		if n := slowDone.Load(); n >= backlog-4 {
			t.Fatalf("the other function's call ran after %d of %d backlogged calls (%s)", n, backlog, at.Sub(sent))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the other function's call never ran")
	}
}

func TestABusyFunctionSpendsNoAttemptAndItsCallIsNotGivenUp(t *testing.T) {
	js := startJS(t)
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 6 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "done")
	}))
	defer gw.Close()
	cb, ch := callbackServer(t)
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, MaxDeliver: 2})
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	c := waitCallback(t, ch)
	if c.header.Get("X-Function-Status") != "200" || c.body != "done" || calls.Load() != 7 {
		t.Fatalf("callback %s %q after %d calls; want 200 \"done\" after 7 (6 answered 429, MaxDeliver 2)",
			c.header.Get("X-Function-Status"), c.body, calls.Load())
	}
}

func TestCallsLeftWithTheSharedConsumerOfEarlierVersionsAreDelivered(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, queuemsg.StreamName, jetstream.ConsumerConfig{
		Durable: DurableName, FilterSubject: queuemsg.SubjectPrefix + ">", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	cb, ch := callbackServer(t)
	publish(t, js, queuemsg.Request{Function: "f", CallbackURL: cb}, "c")
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "done") }))
	defer gw.Close()
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL})
	if c := waitCallback(t, ch); c.body != "done" {
		t.Fatalf("callback %q", c.body)
	}
	if _, err := js.Consumer(ctx, queuemsg.StreamName, DurableName); err == nil {
		t.Fatal("the shared consumer is still there")
	}
}

// TestALaneTakesNoCallAheadOfAFreeSlot: while every slot is busy, a
// function's lane holds the one call it waits to run (kept alive with
// in-progress acks) and leaves the others in the stream: a call delivered
// ahead and left unacknowledged past AckWait would be delivered, and made,
// twice.
func TestALaneTakesNoCallAheadOfAFreeSlot(t *testing.T) {
	js := startJS(t)
	release := make(chan struct{})
	var calls atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
	}))
	defer gw.Close()
	defer close(release)
	startWorker(t, js, WorkerOptions{GatewayURL: gw.URL, Concurrency: 1})
	for i := range 4 {
		publish(t, js, queuemsg.Request{Function: "f"}, fmt.Sprintf("c%d", i))
	}
	for deadline := time.Now().Add(10 * time.Second); calls.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the first call never reached the function")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, queuemsg.StreamName, laneName(queuemsg.Subject("f")))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // what a prefetch would have taken by now
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One call runs, one waits for its slot: the other two stay queued.
	if info.NumAckPending != 2 || info.NumPending != 2 {
		t.Fatalf("with the one slot busy: %d calls delivered and unacknowledged, %d queued; want 2 and 2", info.NumAckPending, info.NumPending)
	}
}
