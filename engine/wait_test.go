package engine_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// recordReads counts the reads of request records on a StateStore that
// does not watch.
type recordReads struct {
	faasflow.StateStore
	n atomic.Int32
}

func (s *recordReads) Get(ctx context.Context, k string) ([]byte, int64, error) {
	if isRecordKey(k) {
		s.n.Add(1)
	}
	return s.StateStore.Get(ctx, k)
}

// watchingRecordReads is recordReads on a store that watches.
type watchingRecordReads struct{ *recordReads }

func (s watchingRecordReads) Watch(ctx context.Context, k string) (<-chan struct{}, error) {
	return s.StateStore.(faasflow.Watcher).Watch(ctx, k)
}

// waitReturned fails the test unless the Wait that reports on got returns
// without error within 5s.
func waitReturned(t *testing.T, got <-chan error) {
	t.Helper()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5s of the end")
	}
}

// TestWaitInAnotherProcessHearsOfTheEndThroughTheStoresWatch: a Wait in a
// process that does not end the request learns of the end from a watch of
// the request's record when the StateStore can watch: after its first four
// reads it reads the record once more when it starts watching and once
// when the record changes, instead of again and again; without a watch it
// reads on, and still gets the result.
func TestWaitInAnotherProcessHearsOfTheEndThroughTheStoresWatch(t *testing.T) {
	tests := []struct {
		name               string
		watch              bool
		minReads, maxReads int32
	}{
		{"a store that watches", true, 4, 6},
		{"a store that does not", false, 8, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := statemem.New()
			runner := newFixture(t, func(o *engine.Options) { o.StateStore = shared })
			reads := &recordReads{StateStore: shared}
			var waiterState faasflow.StateStore = reads
			if tt.watch {
				waiterState = watchingRecordReads{reads}
			}
			waiter := newFixture(t, func(o *engine.Options) { o.StateStore = waiterState })
			id := runner.start(t)
			got := make(chan error, 1)
			go func() {
				out, rec, err := waiter.e.Wait(context.Background(), id)
				if err == nil && (rec.State != engine.StateSucceeded || string(out) != ">abc") {
					t.Errorf("Wait: %q, %s; want >abc, succeeded", out, rec.State)
				}
				got <- err
			}()
			time.Sleep(1500 * time.Millisecond) // the request runs a while
			deliverAll(t, runner.e, runner.tr)
			waitReturned(t, got)
			if n := reads.n.Load(); n < tt.minReads || n > tt.maxReads {
				t.Fatalf("the waiting process read the request record %d times; want %d to %d", n, tt.minReads, tt.maxReads)
			}
		})
	}
}

// slowWake holds the write that ends a request for a moment, while armed:
// the process that wrote it wakes its waiters only after that, so a Wait
// watching the record reads the end first.
type slowWake struct {
	watchingRecordReads
	armed atomic.Bool
}

func (s *slowWake) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	nver, ok, err := s.watchingRecordReads.CompareAndSwap(ctx, k, ver, v, ttl)
	if ok && s.armed.Load() && isRecordKey(k) && bytes.Contains(v, []byte(`"state":"succeeded"`)) {
		time.Sleep(50 * time.Millisecond)
	}
	return nver, ok, err
}

// TestWaitReadsLessWhileRequestsEndWhereTheyAreAwaited: Wait reads a running
// request's record at 0, 5, 15 and 35 ms while it has reason to think
// requests end in other processes (at first, and after one did), and at 0
// and 20 ms only once the last 16 waits were all woken by this process's
// own end of the request, even when a read saw that end before the wake.
func TestWaitReadsLessWhileRequestsEndWhereTheyAreAwaited(t *testing.T) {
	shared := statemem.New()
	reads := &recordReads{StateStore: shared}
	store := &slowWake{watchingRecordReads: watchingRecordReads{reads}}
	here := newFixture(t, func(o *engine.Options) { o.StateStore = store })
	elsewhere := newFixture(t, func(o *engine.Options) { o.StateStore = shared })
	// waitFor starts a request with by, waits for it in here, and returns
	// how often here read the record in the 100 ms before the request's
	// hops ran.
	waitFor := func(by *fixture) int32 {
		t.Helper()
		id := by.start(t)
		got := make(chan error, 1)
		before := reads.n.Load()
		go func() {
			_, _, err := here.e.Wait(context.Background(), id)
			got <- err
		}()
		time.Sleep(100 * time.Millisecond)
		n := reads.n.Load() - before
		deliverAll(t, by.e, by.tr)
		waitReturned(t, got)
		return n
	}
	if n := waitFor(here); n < 4 {
		t.Fatalf("a new engine read the record %d times in 100 ms; want 4 (at 0, 5, 15 and 35 ms)", n)
	}
	for i := 0; i < 16; i++ {
		waitFor(here)
	}
	if n := waitFor(here); n > 2 {
		t.Fatalf("after 17 requests ended here, the record was read %d times in 100 ms; want 2 (at 0 and 20 ms)", n)
	}
	store.armed.Store(true)
	waitFor(here) // the watch wakes Wait, which reads the end, before the wake
	store.armed.Store(false)
	time.Sleep(1500 * time.Millisecond) // past the wait for the wake
	if n := waitFor(here); n > 2 {
		t.Fatalf("after an end read before its wake here, the record was read %d times in 100 ms; want 2", n)
	}
	waitFor(elsewhere)
	time.Sleep(1500 * time.Millisecond)
	if n := waitFor(here); n < 4 {
		t.Fatalf("after a request ended elsewhere, the record was read %d times in 100 ms; want 4 again", n)
	}
}
