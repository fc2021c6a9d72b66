package engine

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Options configure an Engine. Flow, StateStore, DataStore, Transport and
// Signer are required for flows of more than one node; a flow of one node
// needs none of them.
type Options struct {
	// Flow is the flow's name (from configuration; never from a Host header).
	Flow string
	// StateStore and DataStore hold coordination state and data.
	StateStore sdk.StateStore
	DataStore  sdk.DataStore
	// Transport carries hops; Signer signs and verifies them.
	Transport Transport
	Signer    *Signer
	// Invoker performs Apply, Request and Callback operations.
	Invoker Invoker
	// Notifier delivers completion callbacks (optional).
	Notifier Notifier
	// Events is told of every request's end, whether or not the request
	// has a callback URL, after the end is recorded (optional; the runtime
	// publishes completion events with it). It is called before the
	// request's finalizing phase is cleared, so an end whose process dies
	// first is reported again by the reconciler, with the same Ended.
	Events Notifier
	// Observer receives events for tracing and metrics (optional).
	Observer Observer
	// Logger receives the engine's own log lines (default: discard).
	Logger *slog.Logger

	// InlineLimit is the largest hop input carried inside the hop; larger
	// inputs go to the DataStore. Default 64 KiB.
	InlineLimit int
	// MaxHopAge rejects hops signed longer ago. Default 24h.
	MaxHopAge time.Duration
	// RequestTTL bounds how long a request's state may live: keys of a
	// request abandoned by a crash expire after it. Default 24h.
	RequestTTL time.Duration
	// Retention is how long a finished request's record and result are
	// kept. Default 1h; negative keeps nothing once the request ends.
	Retention time.Duration
	// RedriveRetention is how long a failed or stopped request keeps what a
	// redrive needs (its record, its nodes' records and hops, the outputs of
	// the nodes that succeeded): it can be redriven that long after it
	// ended. At most RequestTTL, which bounds the life of those keys.
	// Default 24h; negative keeps nothing past Retention (no redrive).
	RedriveRetention time.Duration
	// Lease is how long a delivery holds a node without renewing it: a
	// heartbeat renews it every Lease/3 while the node runs, so a delivery
	// that dies loses the node Lease after its last renewal at most.
	// Default 15s.
	Lease time.Duration
	// StallAfter is how long a node's hop may wait unclaimed before the
	// reconciler sends it again (then twice as long, and so on). Default
	// 30s.
	StallAfter time.Duration
	// ReconcileInterval is the time between two passes of the reconciler
	// (RunReconciler). Default 5s.
	ReconcileInterval time.Duration
	// MaxClockSkew is how far in the future a hop may be dated before it
	// is refused. Default 1m.
	MaxClockSkew time.Duration
	// Now returns the current time (tests). Default time.Now.
	Now func() time.Time
	// OnOverrun, if set, is called when a node's or operation's timeout
	// passed while its code (a modifier or a custom operation) was still
	// running: the node fails with sdk.ErrTimeout, but the goroutine
	// running that code cannot be stopped and goes on (see Overrun).
	OnOverrun func(Overrun)
}

// Overrun is code of a node that was still running when its timeout
// passed. The engine has gone on without it: the attempt failed with
// sdk.ErrTimeout and its output, if it ever returns, is dropped.
type Overrun struct {
	RequestID string
	Node      string
	// Where names the code: "modifier of <node>" or "operation <id>".
	Where string
	// Done is closed when the code returns at last.
	Done <-chan struct{}
}

// Engine runs one flow. It is safe for concurrent use.
type Engine struct {
	flow *Flow
	o    Options
	obs  Observer
	log  *slog.Logger
	// tx is the StateStore's optional sdk.Transactor (nil without one).
	tx sdk.Transactor
	// hash and start are the flow's (see Flow), kept at hand.
	hash  string
	start []Frame

	mu      sync.Mutex
	waiters map[string][]*waiter
	// endsElsewhere is how many more Wait calls read the record early
	// because one found its request ended by another process (see
	// Engine.firstRecheck).
	endsElsewhere atomic.Int32
}

// New compiles define (see Compile) and returns an Engine for it.
func New(define sdk.DefineFunc, o Options) (*Engine, error) {
	f, err := Compile(o.Flow, define)
	if err != nil {
		return nil, err
	}
	return NewFor(f, o)
}

// NewFor returns an Engine for the compiled flow f; o.Flow is f's name. A
// flow of more than one node needs a StateStore, a DataStore, a Transport
// and a Signer; a flow of one node needs none of them.
func NewFor(f *Flow, o Options) (*Engine, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: no flow", ErrConfig)
	}
	o.Flow = f.name
	o.setDefaults()
	e := &Engine{flow: f, o: o, obs: o.Observer, log: o.Logger, hash: f.hash, start: f.start, waiters: make(map[string][]*waiter)}
	e.endsElsewhere.Store(endsElsewhereMemory)
	e.tx, _ = o.StateStore.(sdk.Transactor)
	if e.obs == nil {
		e.obs = NopObserver{}
	}
	if f.sync {
		return e, nil
	}
	var missing []string
	if o.Flow == "" {
		missing = append(missing, "Flow")
	}
	if o.StateStore == nil {
		missing = append(missing, "StateStore")
	}
	if o.DataStore == nil {
		missing = append(missing, "DataStore")
	}
	if o.Transport == nil {
		missing = append(missing, "Transport")
	}
	if o.Signer == nil {
		missing = append(missing, "Signer (HMAC secret faasflow-hmac-secret)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: a flow of more than one node needs %v", ErrConfig, missing)
	}
	return e, nil
}

func (o *Options) setDefaults() {
	if o.InlineLimit == 0 {
		o.InlineLimit = 64 << 10
	}
	if o.MaxHopAge == 0 {
		o.MaxHopAge = 24 * time.Hour
	}
	if o.RequestTTL == 0 {
		o.RequestTTL = 24 * time.Hour
	}
	if o.Retention == 0 {
		o.Retention = time.Hour
	}
	if o.RedriveRetention == 0 {
		o.RedriveRetention = 24 * time.Hour
	}
	if o.RedriveRetention < 0 {
		o.RedriveRetention = 0
	}
	o.RedriveRetention = min(o.RedriveRetention, o.RequestTTL)
	if o.Lease == 0 {
		o.Lease = 15 * time.Second
	}
	if o.StallAfter == 0 {
		o.StallAfter = 30 * time.Second
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = 5 * time.Second
	}
	if o.MaxClockSkew == 0 {
		o.MaxClockSkew = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Options returns the engine's options, with their defaults filled in.
func (e *Engine) Options() Options { return e.o }

// Flow returns the flow name.
func (e *Engine) Flow() string { return e.o.Flow }

// DefinitionHash returns the hash of the flow's structure.
func (e *Engine) DefinitionHash() string { return e.hash }

// IsSync reports whether the flow is a single node that runs inside the
// first call.
func (e *Engine) IsSync() bool { return e.flow.sync }

// Definition returns the flow's validated workflow, for DAG export.
func (e *Engine) Definition() *sdk.Workflow { return e.flow.wf }
