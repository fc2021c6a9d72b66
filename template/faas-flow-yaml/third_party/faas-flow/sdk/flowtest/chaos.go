package flowtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/transport/loopback"
)

// Chaos configures the faults the harness injects, from a seed, so that a
// test can prove a flow's result does not depend on them. Probabilities are
// between 0 and 1.
type Chaos struct {
	Seed uint64
	// Duplicate is the probability that a hop is delivered twice.
	Duplicate float64
	// Reorder delivers queued hops in random order instead of in order.
	Reorder bool
	// Delay is the probability that a hop is held back for up to MaxDelay.
	Delay    float64
	MaxDelay time.Duration
	// Drop is the probability that a hop is lost on the way, as with a
	// queue that delivers at most once or gives up.
	Drop float64
	// Kill is the probability that a delivery dies partway through: from a
	// store call chosen at random on, its store calls fail and its hops are
	// lost, as if its process had been killed there.
	Kill float64
}

// ErrKilled is the error of the store calls of a delivery chaos killed.
var ErrKilled = errors.New("flowtest: the delivery's process was killed")

func (c *Chaos) transport() *loopback.Chaos {
	if c == nil {
		return nil
	}
	return &loopback.Chaos{Seed: c.Seed, Duplicate: c.Duplicate, Reorder: c.Reorder, Delay: c.Delay, MaxDelay: c.MaxDelay, Drop: c.Drop}
}

// reaper decides which deliveries die, and where.
type reaper struct {
	mu     sync.Mutex
	rng    *rand.Rand
	chance float64
	killed atomic.Int64
}

func newReaper(c *Chaos) *reaper {
	if c == nil || c.Kill <= 0 {
		return nil
	}
	return &reaper{rng: rand.New(rand.NewPCG(c.Seed^0x5bd1e995, c.Seed+7)), chance: c.Kill}
}

// death is the fate of one delivery: it dies at its at-th store call.
type death struct {
	at    int64
	calls atomic.Int64
	dead  atomic.Bool
}

type deathKey struct{}

// doom marks a delivery's context with its death, if chaos chooses one.
func (r *reaper) doom(ctx context.Context) context.Context {
	if r == nil {
		return ctx
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rng.Float64() >= r.chance {
		return ctx
	}
	r.killed.Add(1)
	return context.WithValue(ctx, deathKey{}, &death{at: 1 + r.rng.Int64N(12)})
}

// step counts a store call of the delivery of ctx and reports whether the
// delivery is dead by now.
func step(ctx context.Context) bool {
	d, _ := ctx.Value(deathKey{}).(*death)
	if d == nil {
		return false
	}
	if d.calls.Add(1) >= d.at {
		d.dead.Store(true)
	}
	return d.dead.Load()
}

// mortalState is a StateStore whose calls fail once their delivery died.
type mortalState struct{ sdk.StateStore }

func (m mortalState) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if step(ctx) {
		return nil, 0, ErrKilled
	}
	return m.StateStore.Get(ctx, key)
}
func (m mortalState) Create(ctx context.Context, key string, v []byte, ttl time.Duration) (int64, bool, error) {
	if step(ctx) {
		return 0, false, ErrKilled
	}
	return m.StateStore.Create(ctx, key, v, ttl)
}
func (m mortalState) CompareAndSwap(ctx context.Context, key string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	if step(ctx) {
		return 0, false, ErrKilled
	}
	return m.StateStore.CompareAndSwap(ctx, key, ver, v, ttl)
}
func (m mortalState) Delete(ctx context.Context, key string) error {
	if step(ctx) {
		return ErrKilled
	}
	return m.StateStore.Delete(ctx, key)
}
func (m mortalState) List(ctx context.Context, prefix string) ([]sdk.KV, error) {
	if step(ctx) {
		return nil, ErrKilled
	}
	return m.StateStore.List(ctx, prefix)
}
func (m mortalState) DeletePrefix(ctx context.Context, prefix string) error {
	if step(ctx) {
		return ErrKilled
	}
	return m.StateStore.DeletePrefix(ctx, prefix)
}

// mortalTxState adds the inner store's transactions.
type mortalTxState struct {
	mortalState
	tx sdk.Transactor
}

func (m mortalTxState) Txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	if step(ctx) {
		return nil, ErrKilled
	}
	return m.tx.Txn(ctx, ops...)
}

// mortal wraps a StateStore, keeping its sdk.Transactor if it has one.
func mortal(st sdk.StateStore) sdk.StateStore {
	if tx, ok := st.(sdk.Transactor); ok {
		return mortalTxState{mortalState{st}, tx}
	}
	return mortalState{st}
}

// mortalData is a DataStore whose calls fail once their delivery died.
type mortalData struct{ sdk.DataStore }

func (m mortalData) Put(ctx context.Context, key string, data []byte) error {
	if step(ctx) {
		return ErrKilled
	}
	return m.DataStore.Put(ctx, key, data)
}
func (m mortalData) Get(ctx context.Context, key string) ([]byte, error) {
	if step(ctx) {
		return nil, ErrKilled
	}
	return m.DataStore.Get(ctx, key)
}
func (m mortalData) Delete(ctx context.Context, key string) error {
	if step(ctx) {
		return ErrKilled
	}
	return m.DataStore.Delete(ctx, key)
}
func (m mortalData) DeletePrefix(ctx context.Context, prefix string) error {
	if step(ctx) {
		return ErrKilled
	}
	return m.DataStore.DeletePrefix(ctx, prefix)
}

// mortalTransport loses the hops a dead delivery sends.
type mortalTransport struct{ engine.Transport }

func (m mortalTransport) Send(ctx context.Context, id string, hop []byte) error {
	if d, _ := ctx.Value(deathKey{}).(*death); d != nil && d.dead.Load() {
		return nil
	}
	return m.Transport.Send(ctx, id, hop)
}
