package flowtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
	"github.com/faas-flow/faas-flow/transport/loopback"
)

// Chaos configures the faults the in-process transport injects (see
// loopback.Chaos).
type Chaos = loopback.Chaos

// Function is a fake OpenFaaS function for Apply operations.
type Function func(input []byte) ([]byte, error)

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

// WithChaos makes the transport duplicate, reorder and delay hops.
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
// inline limit, observer, clock...).
func WithEngineOptions(f func(*engine.Options)) Option {
	return func(c *config) { c.tune = append(c.tune, f) }
}

// Harness runs one flow in process.
type Harness struct {
	Engine    *engine.Engine
	Transport *loopback.Loopback
	State     sdk.StateStore
	Data      sdk.DataStore
	calls     *fakeInvoker
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
	fi := &fakeInvoker{functions: c.functions, counts: map[string]int{}}
	inv := c.invoker
	if inv == nil {
		inv = fi
	}
	lb := loopback.New(c.workers, c.chaos)
	signer, err := engine.NewSigner([]byte("flowtest-hmac-key"), false)
	if err != nil {
		return nil, err
	}
	eo := engine.Options{
		Flow: c.flow, StateStore: c.state, DataStore: c.data, Transport: lb, Signer: signer, Invoker: inv,
	}
	for _, f := range c.tune {
		f(&eo)
	}
	e, err := engine.New(define, eo)
	if err != nil {
		lb.Close()
		return nil, err
	}
	lb.SetTarget(e.Receive)
	return &Harness{Engine: e, Transport: lb, State: c.state, Data: c.data, calls: fi}, nil
}

// Close stops the transport.
func (h *Harness) Close() { h.Transport.Close() }

// Result is the outcome of one request.
type Result struct {
	ID     string
	State  string // engine.StateSucceeded, StateFailed, StateStopped
	Output []byte
	// Err is the request's error message (failed requests).
	Err    string
	Record *engine.RequestRecord
}

// RunOption configures one Run.
type RunOption func(*engine.StartRequest)

// WithQuery sets the request's query string.
func WithQuery(q url.Values) RunOption { return func(r *engine.StartRequest) { r.Query = q } }

// WithRequestID sets the request id.
func WithRequestID(id string) RunOption { return func(r *engine.StartRequest) { r.ID = id } }

// ErrStalled reports a request that stopped making progress: no hop is in
// flight but the request has not ended (a lost hop).
var ErrStalled = errors.New("flowtest: request stalled with no hop in flight")

// Run starts a request and waits until it has ended and every hop (with
// duplicates) has been delivered. A flow that returns an error from a node
// is not a Run error: look at Result.State.
func (h *Harness) Run(ctx context.Context, input []byte, opts ...RunOption) (*Result, error) {
	req := engine.StartRequest{Body: input}
	for _, o := range opts {
		o(&req)
	}
	res, err := h.Engine.Start(ctx, req)
	if res != nil && res.Sync {
		r := &Result{ID: res.ID, State: res.State, Output: res.Result}
		if err != nil {
			r.Err = err.Error()
		}
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	return h.Await(ctx, res.ID)
}

// Await waits until request id has ended and the transport is idle.
func (h *Harness) Await(ctx context.Context, id string) (*Result, error) {
	for {
		if err := h.Transport.WaitIdle(ctx); err != nil {
			return nil, err
		}
		out, rec, err := h.Engine.Result(ctx, id)
		switch {
		case errors.Is(err, engine.ErrNotFinished):
			if rec.State == engine.StatePaused {
				return &Result{ID: id, State: rec.State, Record: rec}, nil
			}
			if h.Transport.Idle() {
				return nil, fmt.Errorf("%w: request %s is %s", ErrStalled, id, rec.State)
			}
			continue
		case errors.Is(err, engine.ErrUnknownRequest):
			// Retention -1: the record is gone once the request ended.
			return &Result{ID: id, State: "ended-and-deleted"}, nil
		case err != nil:
			return nil, err
		}
		// Wait for the last hops (duplicates) to drain.
		if err := h.Transport.WaitIdle(ctx); err != nil {
			return nil, err
		}
		return &Result{ID: id, State: rec.State, Output: out, Err: rec.Error, Record: rec}, nil
	}
}

// Calls returns how many times the fake function name was invoked.
func (h *Harness) Calls(name string) int {
	h.calls.mu.Lock()
	defer h.calls.mu.Unlock()
	return h.calls.counts[name]
}

type fakeInvoker struct {
	mu        sync.Mutex
	functions map[string]Function
	counts    map[string]int
}

func (f *fakeInvoker) Invoke(ctx context.Context, call *engine.Call) ([]byte, error) {
	f.mu.Lock()
	fn, ok := f.functions[call.Target]
	f.counts[call.Target]++
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("flowtest: no fake function %q (register it with flowtest.WithFunction)", call.Target)
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := fn(call.Data)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Sleep is a Function helper that waits d then echoes its input.
func Sleep(d time.Duration) Function {
	return func(in []byte) ([]byte, error) { time.Sleep(d); return in, nil }
}
