package queue

import (
	"context"
	"sync"
)

// fairSlots hands out a fixed number of slots (the worker's concurrency)
// first come, first served. Each lane asks for one slot at a time, for the
// next message it holds, and asks again only once it has been given that
// slot: a lane with a backlog therefore takes its turn behind every other
// lane that waits, and calls of a function with a long backlog cannot hold
// back another function's. A lane alone takes every free slot.
type fairSlots struct {
	mu      sync.Mutex
	free    int
	waiting []chan struct{}
}

func newFairSlots(n int) *fairSlots { return &fairSlots{free: n} }

// acquire waits for a slot, its turn in the order of the requests. It
// reports false, holding no slot, when ctx ends first.
func (f *fairSlots) acquire(ctx context.Context) bool {
	f.mu.Lock()
	if f.free > 0 && len(f.waiting) == 0 {
		f.free--
		f.mu.Unlock()
		return true
	}
	turn := make(chan struct{})
	f.waiting = append(f.waiting, turn)
	f.mu.Unlock()
	select {
	case <-turn:
		return true
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.waiting {
		if c == turn {
			f.waiting = append(f.waiting[:i], f.waiting[i+1:]...)
			return false
		}
	}
	// The slot was handed over as ctx ended: give it back.
	f.releaseLocked()
	return false
}

// release gives a slot back, to the longest waiting request if any.
func (f *fairSlots) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releaseLocked()
}

func (f *fairSlots) releaseLocked() {
	if len(f.waiting) == 0 {
		f.free++
		return
	}
	next := f.waiting[0]
	f.waiting = f.waiting[1:]
	close(next)
}
