package engine

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
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
	c := Completion{URL: req.CallbackURL, Flow: e.o.Flow, RequestID: id, State: state, Result: out, Started: info.Started, Ended: e.o.Now()}
	if err != nil {
		c.Error = err.Error()
	}
	e.notify(ctx, c)
	if err != nil {
		return &StartResult{ID: id, Sync: true, State: state}, err
	}
	return &StartResult{ID: id, Sync: true, Result: out, State: state}, nil
}

func (e *Engine) startAsync(ctx context.Context, id string, req StartRequest) (*StartResult, error) {
	inc := newIncarnation()
	k := newKeys(e.o.Flow, id, inc)
	now := e.o.Now()
	k.listed = listedKey(e.o.Flow, id, now)
	info := RequestInfo{Flow: e.o.Flow, RequestID: id, Started: now}
	ctx = e.obs.RequestStarted(ctx, &info)
	rec := RequestRecord{
		ID: id, Flow: e.o.Flow, Incarnation: inc, DefHash: e.hash, State: StateRunning, Created: now, Updated: now,
		Query: req.Query.Encode(), CallbackURL: req.CallbackURL, Trace: info.Trace,
	}
	record, err := json.Marshal(&rec)
	if err != nil {
		return nil, err
	}
	inst := instanceID(e.start)
	env := &Envelope{
		Version: EnvelopeVersion, Flow: e.o.Flow, RequestID: id, Incarnation: inc, DefHash: e.hash,
		HopID: hopID(id, inc, inst), Cursor: e.start, NoData: len(req.Body) == 0, Query: rec.Query,
		CallbackURL: req.CallbackURL, Trace: info.Trace,
	}
	if len(req.Body) > e.o.InlineLimit {
		env.DataRef = "h/" + env.HopID
		if err := e.o.DataStore.Put(ctx, k.work+env.DataRef, req.Body); err != nil {
			return nil, fmt.Errorf("store request body: %w", err)
		}
	} else {
		env.Data = req.Body
	}
	running, err := e.startNode(ctx, k, record, env)
	if err != nil && !errors.Is(err, sdk.ErrNodeFailed) {
		return nil, err
	}
	return e.started(ctx, k, id, running), nil
}

// startNode writes the request record, its entry in the reconciler's index
// and the start node's record, claimed by this call, then runs the start
// node: with a sdk.Transactor, in one transaction, so that the first hop
// leaves after one round trip. running reports that the node's last write
// found the request still running.
func (e *Engine) startNode(ctx context.Context, k keys, record []byte, env *Envelope) (running bool, err error) {
	ctx = e.obs.HopReceived(ctx, env)
	r, err := e.newRun(ctx, k, env, env.Trace)
	if err != nil {
		// The flow cannot be built: record the request, then its failure.
		if _, err := e.createRequest(ctx, k, record, nil); err != nil {
			return false, err
		}
		e.failRequest(ctx, k, err)
		return false, nil
	}
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return false, err
	}
	inst := instanceID(env.Cursor)
	claimed := e.claimedRecord(env, nil)
	kids := staticChildren(env.Cursor, node)
	ver, err := e.createRequest(ctx, k, record, &startRecord{inst: inst, rec: claimed, reserve: r.reserveOps(kids)})
	if err != nil {
		return false, err
	}
	r.reserved(kids, ver.reserved)
	r.known = &storedRecord{value: record, version: ver.record}
	r.take(ctx, inst, claimed, ver.node)
	err = r.execute(ctx, node)
	r.finishHop(ctx)
	return r.runningAfter, err
}

// startRecord is the start node's record, written with the request's, and
// the reservations of its children.
type startRecord struct {
	inst    string
	rec     *nodeRecord
	reserve []sdk.TxnOp
}

// createdVersions are the versions createRequest wrote, and the results of
// the reservations.
type createdVersions struct {
	record, node int64
	reserved     []sdk.TxnResult
}

// createRequest creates the request record (failing with ErrRequestExists
// when the id is taken), its entries in the reconciler's index and in the
// listing index and, when
// start is set, the start node's record: in one transaction with a
// sdk.Transactor, else one by one, the record first.
func (e *Engine) createRequest(ctx context.Context, k keys, record []byte, start *startRecord) (createdVersions, error) {
	ops := []sdk.TxnOp{
		sdk.TxnCreate(k.record, record, e.o.RequestTTL),
		sdk.TxnCreate(k.active, []byte(e.o.Now().UTC().Format(time.RFC3339Nano)), e.o.RequestTTL),
		sdk.TxnCreate(k.listed, nil, e.o.RequestTTL),
	}
	if start != nil {
		ops = append(ops, sdk.TxnCreate(k.node(start.inst), start.rec.encode(), e.o.RequestTTL))
		ops = append(ops, start.reserve...)
	}
	if e.tx == nil {
		return e.createOneByOne(ctx, k, record, ops)
	}
	res, err := e.tx.Txn(ctx, ops...)
	if err != nil {
		return createdVersions{}, fmt.Errorf("create request record: %w", err)
	}
	if !res[0].OK {
		// The id is taken: take back what this transaction created (keys
		// of a new incarnation, which nothing else knows).
		for i, op := range ops[1:] {
			if res[i+1].OK {
				_ = e.o.StateStore.Delete(ctx, op.Key)
			}
		}
		return createdVersions{}, fmt.Errorf("%w: %s", ErrRequestExists, k.record)
	}
	out := createdVersions{record: res[0].Version}
	if start != nil {
		out.node, out.reserved = res[3].Version, res[4:]
	}
	return out, nil
}

// createOneByOne is createRequest on a store without transactions: the
// index entry and the start node's record come first and the request record
// last, so that a crash in between leaves an entry the reconciler finds
// without a record, and removes with the keys of its incarnation; never a
// record of a running request that nothing would finish.
func (e *Engine) createOneByOne(ctx context.Context, k keys, record []byte, ops []sdk.TxnOp) (createdVersions, error) {
	res, err := e.txn(ctx, ops[1:]...)
	if err != nil {
		return createdVersions{}, fmt.Errorf("create request: %w", err)
	}
	ver, created, err := e.o.StateStore.Create(ctx, k.record, record, e.o.RequestTTL)
	if err == nil && !created {
		err = fmt.Errorf("%w: %s", ErrRequestExists, k.record)
	}
	if err != nil {
		for _, op := range ops[1:] {
			_ = e.o.StateStore.Delete(ctx, op.Key)
		}
		return createdVersions{}, fmt.Errorf("create request record: %w", err)
	}
	out := createdVersions{record: ver}
	if len(res) > 2 {
		out.node, out.reserved = res[2].Version, res[3:]
	}
	return out, nil
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
