package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
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
	// Lease is how long a delivery holds a node before another delivery of
	// the same hop may take over (added to the node's timeouts). Default 2m.
	Lease time.Duration
	// Now returns the current time (tests). Default time.Now.
	Now func() time.Time
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
	if o.Lease == 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Flow returns the flow name.
func (e *Engine) Flow() string { return e.o.Flow }

// DefinitionHash returns the hash of the flow's structure.
func (e *Engine) DefinitionHash() string { return e.hash }

// IsSync reports whether the flow is a single node that runs inside the
// first call.
func (e *Engine) IsSync() bool { return e.flow.sync }

// expiryMargin is added to the ages ExpireAbandonedData asks for, so that
// clock skew and a request finishing at its limit never lose live data.
const expiryMargin = time.Hour

// ExpireAbandonedData asks the DataStore, if it implements sdk.Expirer, to
// remove this flow's objects that no request can still need: working data
// (hop inputs, join and branch data, context values) older than RequestTTL
// and results older than Retention, each plus an hour. Requests that end
// delete their working data themselves; this reclaims the data of requests
// abandoned by a crash, whose state has expired. It reports whether the
// store supports expiry. Runtimes call it at start and then every hour.
func (e *Engine) ExpireAbandonedData(ctx context.Context) (bool, error) {
	ex, ok := e.o.DataStore.(sdk.Expirer)
	if !ok {
		return false, nil
	}
	work, results := flowPrefixes(e.o.Flow)
	if err := ex.ExpireAfter(ctx, work, e.o.RequestTTL+expiryMargin); err != nil {
		return true, fmt.Errorf("expire working data: %w", err)
	}
	if err := ex.ExpireAfter(ctx, results, max(e.o.Retention, 0)+expiryMargin); err != nil {
		return true, fmt.Errorf("expire results: %w", err)
	}
	return true, nil
}

// Definition returns the flow's validated workflow, for DAG export.
func (e *Engine) Definition() *sdk.Workflow { return e.flow.wf }

// StartRequest is a new request.
type StartRequest struct {
	ID          string // optional; generated when empty
	Body        []byte
	Query       url.Values
	CallbackURL string
}

// StartResult is the outcome of Start.
type StartResult struct {
	ID string
	// Sync is true for a flow of one node: Result holds its output.
	Sync   bool
	Result []byte
	// State is the request state after the start node ran.
	State string
}

// NewRequestID returns a fresh, time-ordered request id of 20 characters.
func NewRequestID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	_, _ = rand.Read(b[4:])
	return idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func hopID(req, inst string) string {
	h := sha256.Sum256([]byte(req + "\x00" + inst))
	return hex.EncodeToString(h[:12])
}

// Start begins a request. A flow of one node runs to completion inside the
// call and its output is returned; otherwise the start node runs, its
// successors are forwarded, and the request continues asynchronously.
func (e *Engine) Start(ctx context.Context, req StartRequest) (*StartResult, error) {
	id := req.ID
	if id == "" {
		id = NewRequestID()
	} else if !validRequestID(id) {
		return nil, fmt.Errorf("%w: %q: use 1-128 characters from [A-Za-z0-9._-]", ErrBadRequestID, id)
	}
	if e.flow.sync {
		return e.startSync(ctx, id, req)
	}
	return e.startAsync(ctx, id, req)
}

// memValues is the Context value store of a flow that runs in one call.
type memValues struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (v *memValues) Put(_ context.Context, key string, value []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string][]byte)
	}
	v.m[key] = append([]byte(nil), value...)
	return nil
}

func (v *memValues) Get(_ context.Context, key string) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b, ok := v.m[key]
	if !ok {
		return nil, sdk.ErrNotFound
	}
	return b, nil
}

func (v *memValues) Delete(_ context.Context, key string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, key)
	return nil
}

func (e *Engine) startSync(ctx context.Context, id string, req StartRequest) (*StartResult, error) {
	sctx := sdk.NewContext(ctx, e.o.Flow, id, req.Query, &memValues{})
	wf, err := e.flow.build(sctx)
	if err != nil {
		return nil, err
	}
	info := RequestInfo{Flow: e.o.Flow, RequestID: id, Started: e.o.Now()}
	ctx = e.obs.RequestStarted(ctx, &info)
	r := &run{e: e, wf: wf, sctx: sctx, reqID: id, query: req.Query}
	node := wf.Dag().Nodes()[0]
	cursor := []Frame{{Node: node.Name()}}
	out, _, err := r.runNode(ctx, node, cursor, req.Body)
	state := StateSucceeded
	if err != nil {
		state = StateFailed
		sctx.State = sdk.StateFailure
		if h := wf.FailureHandler(); h != nil {
			_, _ = callFailureHandler(h, err)
		}
	} else {
		sctx.State = sdk.StateSuccess
	}
	if f := wf.FinallyHandler(); f != nil {
		callFinally(f, sctx.State)
	}
	e.obs.RequestEnded(ctx, info, state, err)
	if req.CallbackURL != "" && e.o.Notifier != nil {
		c := Completion{URL: req.CallbackURL, Flow: e.o.Flow, RequestID: id, State: state, Result: out}
		if err != nil {
			c.Error = err.Error()
		}
		if nerr := e.o.Notifier.Notify(ctx, c); nerr != nil {
			e.log.Warn("completion callback failed", "request", id, "err", nerr)
		}
	}
	if err != nil {
		return &StartResult{ID: id, Sync: true, State: state}, err
	}
	return &StartResult{ID: id, Sync: true, Result: out, State: state}, nil
}

func (e *Engine) startAsync(ctx context.Context, id string, req StartRequest) (*StartResult, error) {
	k := newKeys(e.o.Flow, id)
	now := e.o.Now()
	info := RequestInfo{Flow: e.o.Flow, RequestID: id, Started: now}
	ctx = e.obs.RequestStarted(ctx, &info)
	rec := RequestRecord{
		ID: id, Flow: e.o.Flow, DefHash: e.hash, State: StateRunning, Created: now, Updated: now,
		Query: req.Query.Encode(), CallbackURL: req.CallbackURL, Trace: info.Trace,
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return nil, err
	}
	cursor := e.start
	inst := instanceID(cursor)
	env := &Envelope{
		Version: EnvelopeVersion, Flow: e.o.Flow, RequestID: id, DefHash: e.hash, HopID: hopID(id, inst),
		Cursor: cursor, Data: req.Body, NoData: len(req.Body) == 0, Query: rec.Query, CallbackURL: req.CallbackURL,
		Trace: info.Trace, IssuedAt: now,
	}
	if e.tx != nil {
		if done, running, err := e.startClaimFirst(ctx, k, b, env); done {
			if err != nil && !errors.Is(err, sdk.ErrNodeFailed) {
				return nil, err
			}
			return e.started(ctx, k, id, running), nil
		}
	}
	_, created, err := e.o.StateStore.Create(ctx, k.record, b, e.o.RequestTTL)
	if err != nil {
		return nil, fmt.Errorf("create request record: %w", err)
	}
	if !created {
		return nil, fmt.Errorf("%w: %s", ErrRequestExists, id)
	}
	nver, _, err := e.o.StateStore.Create(ctx, k.node(inst), pendingRecord(), e.o.RequestTTL)
	if err != nil {
		return nil, fmt.Errorf("create start node record: %w", err)
	}
	env.NodeVersion = nver
	if err := e.handle(ctx, env, nil); err != nil && !errors.Is(err, sdk.ErrNodeFailed) {
		return nil, err
	}
	return e.started(ctx, k, id, false), nil
}

// started reports the state of request id after its start node ran:
// running if the node's last write saw it so, else as its record says (one
// read, not State, which lists every node's record).
func (e *Engine) started(ctx context.Context, k keys, id string, running bool) *StartResult {
	if running {
		return &StartResult{ID: id, State: StateRunning}
	}
	st, _, err := e.loadRecord(ctx, k)
	if err != nil {
		return &StartResult{ID: id, State: StateRunning}
	}
	res := &StartResult{ID: id, State: st.State}
	if st.State == StateSucceeded {
		res.Result, _, _ = e.resultOf(ctx, st)
	}
	return res
}

// leafCursor extends parent with node, descending into sub-DAG start nodes
// until a node that runs operations (a plain or dynamic node).
func leafCursor(parent []Frame, n *sdk.Node) []Frame {
	c := append(append([]Frame(nil), parent...), Frame{Node: n.Name()})
	for n.Kind() == sdk.KindSubDag {
		n = n.SubDag().Start()
		c = append(c, Frame{Node: n.Name()})
	}
	return c
}

// Receive handles a sealed hop that a Transport delivered: it verifies the
// hop, runs the node it names and sends the hops of the nodes that became
// ready. It returns nil when the hop was run, parked (paused request) or
// dropped as a duplicate.
func (e *Engine) Receive(ctx context.Context, body []byte) error {
	if e.o.Signer == nil {
		return fmt.Errorf("%w: no signer", ErrConfig)
	}
	env, err := e.o.Signer.Open(body)
	if err != nil {
		return err
	}
	if env.Flow != e.o.Flow {
		return fmt.Errorf("%w: hop for %q received by %q", ErrWrongFlow, env.Flow, e.o.Flow)
	}
	if age := e.o.Now().Sub(env.IssuedAt); age > e.o.MaxHopAge {
		return fmt.Errorf("%w: signed %s ago (limit %s)", ErrStaleHop, age.Round(time.Second), e.o.MaxHopAge)
	}
	return e.handle(ctx, env, body)
}

// loadRecord reads a request record.
func (e *Engine) loadRecord(ctx context.Context, k keys) (*RequestRecord, int64, error) {
	b, ver, err := e.o.StateStore.Get(ctx, k.record)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, 0, ErrUnknownRequest
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read request record: %w", err)
	}
	var rec RequestRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, 0, fmt.Errorf("corrupt request record: %w", err)
	}
	return &rec, ver, nil
}

// storedRecord is an encoded request record and its version as read.
type storedRecord struct {
	value   []byte
	version int64
}

// updateRecord applies change to the request record with a CAS loop. change
// returns false to leave the record as it is.
func (e *Engine) updateRecord(ctx context.Context, k keys, ttl time.Duration, change func(*RequestRecord) bool) (*RequestRecord, bool, error) {
	return e.updateRecordFrom(ctx, k, nil, ttl, change)
}

// updateRecordFrom is updateRecord starting from a copy of the record read
// earlier (nil: none), saving the read when nothing has changed it since.
func (e *Engine) updateRecordFrom(ctx context.Context, k keys, known *storedRecord, ttl time.Duration, change func(*RequestRecord) bool) (*RequestRecord, bool, error) {
	for {
		var (
			rec   *RequestRecord
			ver   int64
			err   error
			stale bool // rec may be out of date: only a swap can tell
		)
		if known != nil {
			rec, ver, stale = &RequestRecord{}, known.version, true
			if json.Unmarshal(known.value, rec) != nil {
				rec, ver, err = e.loadRecord(ctx, k)
				stale = false
			}
			known = nil
		} else {
			rec, ver, err = e.loadRecord(ctx, k)
		}
		if err != nil {
			return nil, false, err
		}
		if !change(rec) {
			if stale {
				continue // decide on the current record
			}
			return rec, false, nil
		}
		rec.Updated = e.o.Now()
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, false, err
		}
		t := ttl
		if t == 0 {
			t = e.o.RequestTTL
		}
		_, ok, err := e.o.StateStore.CompareAndSwap(ctx, k.record, ver, b, t)
		if err != nil {
			return nil, false, fmt.Errorf("update request record: %w", err)
		}
		if ok {
			return rec, true, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

func (e *Engine) retention() time.Duration {
	if e.o.Retention < 0 {
		return time.Second
	}
	return e.o.Retention
}
