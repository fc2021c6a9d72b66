package loopback

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

// Chaos configures the faults the loopback transport injects. Probabilities
// are between 0 and 1.
type Chaos struct {
	Seed uint64
	// Duplicate is the probability that a hop is delivered twice.
	Duplicate float64
	// Reorder delivers queued hops in random order instead of FIFO.
	Reorder bool
	// Delay is the probability that a hop is held back for up to MaxDelay.
	Delay    float64
	MaxDelay time.Duration
	// Drop is the probability that a hop is lost: Send accepts it and
	// nothing delivers it, as with a queue that gives up or delivers at
	// most once.
	Drop float64
}

type item struct {
	req       string
	hop       []byte
	notBefore time.Time
}

// Loopback is an in-process Transport: hops go into a queue that worker
// goroutines deliver to a target, the engine's Receive. A delivery the
// target answers with engine.ErrHopInProgress is queued again a little
// later, as a queue would redeliver it.
type Loopback struct {
	mu        sync.Mutex
	cond      *sync.Cond
	queue     []item
	busy      int
	closed    bool
	chaos     *Chaos
	rng       *rand.Rand
	target    func(ctx context.Context, hop []byte) error
	errs      []error
	sent      int
	dropped   int
	delivered int
	wg        sync.WaitGroup
}

// New returns a transport with workers goroutines. Call SetTarget before
// the first Send, and Close when done.
func New(workers int, chaos *Chaos) *Loopback {
	l := &Loopback{chaos: chaos}
	l.cond = sync.NewCond(&l.mu)
	if chaos != nil {
		l.rng = rand.New(rand.NewPCG(chaos.Seed, chaos.Seed^0x9e3779b97f4a7c15))
	}
	if workers < 1 {
		workers = 1
	}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go l.work()
	}
	return l
}

// SetTarget sets the function hops are delivered to (engine.Receive).
func (l *Loopback) SetTarget(f func(ctx context.Context, hop []byte) error) {
	l.mu.Lock()
	l.target = f
	l.mu.Unlock()
}

// Send implements engine.Transport.
func (l *Loopback) Send(_ context.Context, req string, hop []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("loopback transport closed")
	}
	l.sent++
	if l.chaos != nil && l.chaos.Drop > 0 && l.rng.Float64() < l.chaos.Drop {
		l.dropped++
		return nil
	}
	l.push(item{req: req, hop: hop})
	if l.chaos != nil && l.rng.Float64() < l.chaos.Duplicate {
		l.push(item{req: req, hop: hop})
	}
	l.cond.Broadcast()
	return nil
}

// push queues it, possibly delayed. Callers hold l.mu.
func (l *Loopback) push(it item) {
	if l.chaos != nil && l.chaos.Delay > 0 && l.rng.Float64() < l.chaos.Delay {
		maxd := l.chaos.MaxDelay
		if maxd <= 0 {
			maxd = 5 * time.Millisecond
		}
		it.notBefore = time.Now().Add(time.Duration(l.rng.Int64N(int64(maxd))))
	}
	l.queue = append(l.queue, it)
}

func (l *Loopback) next() (item, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return item{}, false
		}
		if n := len(l.queue); n > 0 {
			i := 0
			if l.chaos != nil && l.chaos.Reorder {
				i = l.rng.IntN(n)
			}
			it := l.queue[i]
			if wait := time.Until(it.notBefore); wait > 0 {
				// Not due yet: let the others go first, come back soon.
				l.queue = append(append(l.queue[:i:i], l.queue[i+1:]...), it)
				l.mu.Unlock()
				time.Sleep(min(wait, time.Millisecond))
				l.mu.Lock()
				continue
			}
			l.queue = append(l.queue[:i:i], l.queue[i+1:]...)
			l.busy++
			return it, true
		}
		l.cond.Wait()
	}
}

func (l *Loopback) work() {
	defer l.wg.Done()
	for {
		it, ok := l.next()
		if !ok {
			return
		}
		l.mu.Lock()
		target := l.target
		l.mu.Unlock()
		err := target(context.Background(), it.hop)
		l.mu.Lock()
		l.busy--
		l.delivered++
		switch {
		case errors.Is(err, engine.ErrHopInProgress):
			// Another delivery holds the node: try again a little later,
			// like a queue's redelivery.
			it.notBefore = time.Now().Add(2 * time.Millisecond)
			l.queue = append(l.queue, it)
		case err != nil:
			l.errs = append(l.errs, err)
		}
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

// Idle reports whether no hop is queued or being delivered.
func (l *Loopback) Idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue) == 0 && l.busy == 0
}

// WaitIdle blocks until the transport is idle or ctx is done.
func (l *Loopback) WaitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) > 0 || l.busy > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.cond.Wait()
	}
	return nil
}

// Errors returns the errors hop deliveries returned (other than "in
// progress"), e.g. duplicates of hops of an ended request.
func (l *Loopback) Errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// Stats returns how many hops were sent and delivered (with duplicates and
// retries).
func (l *Loopback) Stats() (sent, delivered int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.delivered
}

// Dropped returns how many hops chaos lost.
func (l *Loopback) Dropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Close stops the workers.
func (l *Loopback) Close() {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	l.wg.Wait()
}
