package flowtest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
	"github.com/faas-flow/faas-flow/transport/loopback"
)

type config struct {
	flow      string
	functions map[string]Function
	invoker   engine.Invoker
	chaos     *Chaos
	workers   int
	state     sdk.StateStore
	data      sdk.DataStore
	tune      []func(*engine.Options)
}

// Option configures a Harness.
type Option func(*config)

// WithFunction registers a fake function for Apply(name) (and Request or
// Callback to the URL name).
func WithFunction(name string, f Function) Option {
	return func(c *config) { c.functions[name] = f }
}

// WithInvoker replaces the fake functions with inv (for example the
// runtime's HTTP invoker against real functions).
func WithInvoker(inv engine.Invoker) Option { return func(c *config) { c.invoker = inv } }

// WithChaos injects faults: duplicated, reordered, delayed and lost hops,
// and deliveries that die partway through.
func WithChaos(ch Chaos) Option { return func(c *config) { c.chaos = &ch } }

// WithWorkers sets how many hops are delivered concurrently (default 4).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithStores runs the flow on the given stores instead of in-memory ones
// (for example etcd and MinIO in integration tests).
func WithStores(state sdk.StateStore, data sdk.DataStore) Option {
	return func(c *config) { c.state, c.data = state, data }
}

// WithFlowName sets the flow name (default "flowtest").
func WithFlowName(name string) Option { return func(c *config) { c.flow = name } }

// WithEngineOptions lets a test adjust the engine options (retention,
// inline limit, observer, clock...). A test that sets the clock (Now)
// takes over time: the harness then cannot skip ahead to the reconciler's
// deadlines when a request stalls (see Await).
func WithEngineOptions(f func(*engine.Options)) Option {
	return func(c *config) { c.tune = append(c.tune, f) }
}

// Harness runs one flow in process. Its engine's clock runs ahead of the
// wall clock by whatever time Await skipped to recover stalled requests.
type Harness struct {
	Engine    *engine.Engine
	Transport *loopback.Loopback
	State     sdk.StateStore
	Data      sdk.DataStore
	calls     *fakeInvoker
	reaper    *reaper
	skipped   atomic.Int64 // nanoseconds the clock was moved ahead
	ownClock  bool         // the engine runs on the harness's clock
	opts      engine.Options
}

// New builds an engine for define on in-memory stores and a loopback
// transport. Close it when done.
func New(define sdk.DefineFunc, opts ...Option) (*Harness, error) {
	c := &config{flow: "flowtest", functions: map[string]Function{}, workers: 4}
	for _, o := range opts {
		o(c)
	}
	if c.state == nil {
		c.state = statememory.New()
	}
	if c.data == nil {
		c.data = memory.New()
	}
	h := &Harness{State: c.state, Data: c.data, calls: &fakeInvoker{functions: c.functions, counts: map[string]int{}}, reaper: newReaper(c.chaos)}
	inv := c.invoker
	if inv == nil {
		inv = h.calls
	}
	h.Transport = loopback.New(c.workers, c.chaos.transport())
	signer, err := engine.NewSigner([]byte("flowtest-hmac-key"), false)
	if err != nil {
		return nil, err
	}
	eo := engine.Options{
		Flow: c.flow, StateStore: c.state, DataStore: c.data, Transport: h.Transport, Signer: signer, Invoker: inv,
		Now: h.now,
	}
	for _, f := range c.tune {
		f(&eo)
	}
	h.ownClock = eo.Now == nil || isHarnessClock(eo.Now, h)
	if h.reaper != nil {
		eo.StateStore, eo.DataStore, eo.Transport = mortal(eo.StateStore), mortalData{eo.DataStore}, mortalTransport{eo.Transport}
	}
	h.opts = eo
	e, err := engine.New(define, eo)
	if err != nil {
		h.Transport.Close()
		return nil, err
	}
	h.Engine = e
	h.Transport.SetTarget(func(ctx context.Context, hop []byte) error {
		return e.Receive(h.reaper.doom(ctx), hop)
	})
	return h, nil
}

// now is the harness's clock: the wall clock plus the time skipped.
func (h *Harness) now() time.Time { return time.Now().Add(time.Duration(h.skipped.Load())) }

// isHarnessClock reports whether now is still the harness's own clock (a
// test's WithEngineOptions may have replaced it).
func isHarnessClock(now func() time.Time, h *Harness) bool {
	before := h.skipped.Load()
	h.skipped.Add(int64(time.Hour))
	moved := now().Sub(time.Now()) >= 59*time.Minute
	h.skipped.Store(before)
	return moved
}

// Close stops the transport.
func (h *Harness) Close() { h.Transport.Close() }

// Calls returns how many times the fake function name was invoked.
func (h *Harness) Calls(name string) int {
	h.calls.mu.Lock()
	defer h.calls.mu.Unlock()
	return h.calls.counts[name]
}

// Killed returns how many deliveries chaos killed.
func (h *Harness) Killed() int {
	if h.reaper == nil {
		return 0
	}
	return int(h.reaper.killed.Load())
}
