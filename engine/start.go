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
	"net/url"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

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

// startClaimFirst runs the start node of a new request with a
// sdk.Transactor: one transaction creates the request record (body record),
// creates the start node's record already claimed by this call and reserves
// the records of its children, so the first hop leaves after one round trip
// instead of three. done is false (nothing was written) when the flow could
// not be built: the general path then records that failure. running reports
// that the node's last write found the request still running.
func (e *Engine) startClaimFirst(ctx context.Context, k keys, record []byte, env *Envelope) (done, running bool, err error) {
	ctx = e.obs.HopReceived(ctx, env)
	r, err := e.newRun(ctx, k, env, env.Trace)
	if err != nil {
		return false, false, nil
	}
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return true, false, err
	}
	inst := instanceID(env.Cursor)
	nrec, nb := e.claimedRecord(env, node)
	kids := staticChildren(env.Cursor, node)
	ops := append(make([]sdk.TxnOp, 0, 2+len(kids)), sdk.TxnCreate(k.record, record, e.o.RequestTTL), sdk.TxnCreate(k.node(inst), nb, e.o.RequestTTL))
	ops = append(ops, r.reserveOps(kids)...)
	res, err := e.tx.Txn(ctx, ops...)
	if err != nil {
		return true, false, fmt.Errorf("create request record: %w", err)
	}
	if !res[0].OK || !res[1].OK {
		// The id is taken (or, if only the node's record existed, left over
		// by an expired request): take back what this transaction created.
		for i, op := range ops {
			if res[i].OK {
				_ = e.o.StateStore.Delete(ctx, op.Key)
			}
		}
		if !res[0].OK {
			return true, false, fmt.Errorf("%w: %s", ErrRequestExists, env.RequestID)
		}
		return true, false, fmt.Errorf("create start node record %s: %w", inst, ErrRequestExists)
	}
	r.reserved(kids, res[2:])
	r.known = &storedRecord{value: record, version: res[0].Version}
	err = r.execute(ctx, env, node, inst, &nrec, res[1].Version)
	r.finishHop(ctx)
	return true, r.runningAfter, err
}
