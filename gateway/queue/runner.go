package queue

import (
	"context"
	"time"
)

// runnerIdle is how long a goroutine of a runner waits for its next call
// before it ends.
const runnerIdle = 10 * time.Second

// runner runs calls on goroutines it keeps. A goroutine that finished a
// call waits a while for the next one, so a call usually starts on a
// goroutine whose stack has already grown to what a call needs; a fresh
// goroutine for every call grew its stack by copying, about 2% of the
// gateway's CPU under load. The number of goroutines is bounded by the
// calls in flight, which the worker's slots bound.
type runner struct {
	stopping context.Context
	work     chan func() // unbuffered: a send succeeds only to a waiting goroutine
}

func newRunner(stopping context.Context) *runner {
	return &runner{stopping: stopping, work: make(chan func())}
}

// run runs f on a waiting goroutine, or on a new one when none waits.
func (r *runner) run(f func()) {
	select {
	case r.work <- f:
	default:
		go r.serve(f)
	}
}

// serve runs f, then the calls handed to it, until it has waited
// runnerIdle for one or the worker stops.
func (r *runner) serve(f func()) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(runnerIdle)
		select {
		case f = <-r.work:
		case <-idle.C:
			return
		case <-r.stopping.Done():
			return
		}
	}
}
