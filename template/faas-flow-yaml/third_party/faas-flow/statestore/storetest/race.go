package storetest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// Concurrency is the number of goroutines the race tests use.
const Concurrency = 64

func (s suite) raceCreate(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	for round := 0; round < 3; round++ {
		key := fmt.Sprintf("f/r/join/fired-%d", round)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			winners = make(chan int, Concurrency)
			errs    = make(chan error, Concurrency)
		)
		for i := 0; i < Concurrency; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, created, err := st.Create(ctx, key, []byte(strconv.Itoa(i)), 0)
				if err != nil {
					errs <- err
					return
				}
				if created {
					winners <- i
				}
			}()
		}
		close(start)
		wg.Wait()
		close(winners)
		close(errs)
		for err := range errs {
			t.Fatalf("racing Create: %v", err)
		}
		var won []int
		for w := range winners {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d goroutines won Create (%v), want exactly 1", round, len(won), won)
		}
		if v, _ := mustGet(t, ctx, st, key); string(v) != strconv.Itoa(won[0]) {
			t.Fatalf("stored value %q, but the winner was %d", v, won[0])
		}
	}
}

func (s suite) raceCAS(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	const key = "f/r/counter"
	mustCreate(t, ctx, st, key, "0", 0)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, Concurrency)
	)
	for i := 0; i < Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				v, ver, err := st.Get(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(v))
				if err != nil {
					errs <- fmt.Errorf("counter holds %q: %w", v, err)
					return
				}
				_, ok, err := st.CompareAndSwap(ctx, key, ver, []byte(strconv.Itoa(n+1)), 0)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CAS increment: %v", err)
	}
	if v, _ := mustGet(t, ctx, st, key); string(v) != strconv.Itoa(Concurrency) {
		t.Fatalf("counter = %s after %d increments", v, Concurrency)
	}
}

func (s suite) raceCASOneVersion(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	const key = "f/r/state"
	mustCreate(t, ctx, st, key, "running", 0)
	_, ver := mustGet(t, ctx, st, key)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	start := make(chan struct{})
	for i := 0; i < Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, ok, err := st.CompareAndSwap(ctx, key, ver, []byte("failed-"+strconv.Itoa(i)), 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				won++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("racing CompareAndSwap: %v", errs[0])
	}
	if won != 1 {
		t.Fatalf("%d goroutines swapped the same version, want exactly 1", won)
	}
}
