package queue

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goroutineID is the id of the calling goroutine, read from its stack
// header ("goroutine 42 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	for i := len("goroutine "); i < len(buf); i++ {
		if buf[i] == ' ' {
			return string(buf[len("goroutine "):i])
		}
	}
	return ""
}

func TestARunnerRunsCallsOneAfterAnotherOnTheSameGoroutine(t *testing.T) {
	r := newRunner(t.Context())
	ids := make(chan string, 1)
	r.run(func() { ids <- goroutineID() })
	first := <-ids
	for i := 1; i < 20; i++ {
		// The goroutine that ran the last call waits for the next one: the
		// hand-over succeeds (run would start a goroutine if it did not).
		deadline := time.Now().Add(10 * time.Second)
		for handed := false; !handed; {
			select {
			case r.work <- func() { ids <- goroutineID() }:
				handed = true
			default:
				if time.Now().After(deadline) {
					t.Fatalf("call %d: no goroutine waits for it", i)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		if id := <-ids; id != first {
			t.Fatalf("call %d ran on goroutine %s, the first on %s", i, id, first)
		}
	}
}

func TestARunnerRunsCallsInFlightAtTheSameTime(t *testing.T) {
	r := newRunner(t.Context())
	const n = 8
	var started sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	var done sync.WaitGroup
	done.Add(n)
	for range n {
		r.run(func() {
			defer done.Done()
			started.Done()
			<-release
		})
	}
	waitOrFail(t, &started, "the calls did not all start while none had ended")
	close(release)
	waitOrFail(t, &done, "the calls did not end")
}

func TestARunnerRunsEveryCallAfterItsWorkerStopped(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	r := newRunner(ctx)
	var ran atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		if i == 25 {
			stop()
		}
		wg.Add(1)
		r.run(func() { defer wg.Done(); ran.Add(1) })
	}
	waitOrFail(t, &wg, "calls handed over after the stop did not run")
	if ran.Load() != 50 {
		t.Fatalf("%d of 50 calls ran", ran.Load())
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, msg string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}
