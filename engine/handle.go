package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// run is the state of one invocation: one received hop and everything it
// executes inline (sub-DAG entry and exit, branch completion, request end).
type run struct {
	e     *Engine
	wf    *sdk.Workflow
	sctx  *sdk.Context
	k     keys
	env   *Envelope
	reqID string
	query url.Values
	trace map[string]string
	// recovering is set when this delivery took over a node from an earlier
	// delivery that did not finish: markers it loses are re-sent anyway.
	recovering bool
	// reservations are the node records of children created ahead of
	// their emit, by instance (see reserve.go); read-only once set, but
	// each entry is updated by its own emit.
	reservations map[string]*reservation
	// runningAfter is set when the hop's last write (the node's final
	// status) also read the request record, atomically, and found it not
	// ended: the hop then has nothing to drain.
	runningAfter bool
	// final is the node's final write while it waits to ride in the
	// transaction that records its branch's result (see branchEnd);
	// finalDone is set once it has.
	final     *finalWrite
	finalDone bool
	// known is the request record as this hop last read or wrote it, so
	// that ending the request can swap it without reading it first.
	known *storedRecord
}

// takeKnown returns the request record this run knows, once.
func (r *run) takeKnown() *storedRecord {
	k := r.known
	r.known = nil
	return k
}

// finalWrite is the final status of a node that ends a branch, written
// together with the branch's result.
type finalWrite struct {
	inst string
	rec  *nodeRecord
	ver  int64
}

// handle runs the hop env. raw is the sealed hop (nil when Start calls it).
func (e *Engine) handle(ctx context.Context, env *Envelope, raw []byte) error {
	ctx = e.obs.HopReceived(ctx, env)
	k := newKeys(e.o.Flow, env.RequestID)
	if e.tx != nil && env.NodeVersion > 0 && env.DefHash == e.hash {
		if done, err := e.handleClaimFirst(ctx, k, env, raw); done {
			return err
		}
	}
	return e.handleReadFirst(ctx, k, env, raw)
}

// handleClaimFirst is the common case of a hop, with a sdk.Transactor: one
// transaction claims the node on the version the hop carries, reads the
// request record and reserves the records of the children the node will
// start (see reserve), so that neither the record read nor the children's
// creates cost a round trip of their own. done is false (nothing was
// written) when the hop needs the general path: the claim did not match (a
// duplicate, a takeover) or the flow could not be built.
func (e *Engine) handleClaimFirst(ctx context.Context, k keys, env *Envelope, raw []byte) (done bool, err error) {
	r, err := e.newRun(ctx, k, env, nil)
	if err != nil {
		return false, nil
	}
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return true, err
	}
	inst := instanceID(env.Cursor)
	nrec, nb := e.claimedRecord(env, node)
	kids := staticChildren(env.Cursor, node)
	ops := append(make([]sdk.TxnOp, 0, 2+len(kids)), sdk.TxnSwap(k.node(inst), env.NodeVersion, nb, e.o.RequestTTL), sdk.TxnGet(k.record))
	ops = append(ops, r.reserveOps(kids)...)
	res, err := e.tx.Txn(ctx, ops...)
	if err != nil {
		return true, fmt.Errorf("claim node %s: %w", inst, err)
	}
	if !res[0].OK {
		return false, nil
	}
	r.reserved(kids, res[2:])
	if !res[1].OK {
		r.dropUnsent(ctx)
		return true, ErrUnknownRequest
	}
	var rec RequestRecord
	if err := json.Unmarshal(res[1].Value, &rec); err != nil {
		return true, fmt.Errorf("corrupt request record: %w", err)
	}
	r.known = &storedRecord{value: res[1].Value, version: res[1].Version}
	switch {
	case rec.State == StatePaused:
		// Give the node back exactly as the emitter created it, then park.
		r.dropUnsent(ctx)
		if _, _, err := e.o.StateStore.CompareAndSwap(ctx, k.node(inst), res[0].Version, pendingRecord(), e.o.RequestTTL); err != nil {
			return true, fmt.Errorf("release node %s of a paused request: %w", inst, err)
		}
		return true, e.park(ctx, k, env, raw)
	case terminalRequest(rec.State):
		r.dropUnsent(ctx)
		cancelled, _ := json.Marshal(&nodeRecord{NodeStatus: NodeStatus{Status: NodeCancelled}})
		_, _, _ = e.o.StateStore.CompareAndSwap(ctx, k.node(inst), res[0].Version, cancelled, e.o.RequestTTL)
		e.drain(ctx, k)
		return true, fmt.Errorf("%w: request %s is %s", ErrWrongState, env.RequestID, rec.State)
	}
	r.trace = rec.Trace
	err = r.execute(ctx, env, node, inst, &nrec, res[0].Version)
	r.finishHop(ctx)
	return true, err
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

// newRun returns the run of hop env with the flow built for its request
// (err: the flow could not be built).
func (e *Engine) newRun(ctx context.Context, k keys, env *Envelope, trace map[string]string) (*run, error) {
	query, _ := url.ParseQuery(env.Query)
	r := &run{e: e, k: k, env: env, reqID: env.RequestID, query: query, trace: trace}
	r.sctx = sdk.NewContext(ctx, e.o.Flow, env.RequestID, query, r.values())
	var err error
	r.wf, err = e.flow.build(r.sctx)
	return r, err
}

// claimedRecord is the record (and its encoding) of node while hop env
// holds it: running, under a lease.
func (e *Engine) claimedRecord(env *Envelope, node *sdk.Node) (nodeRecord, []byte) {
	now := e.o.Now()
	rec := nodeRecord{NodeStatus: NodeStatus{Status: NodeRunning, Started: &now}, Hop: env.HopID, LeaseUntil: now.Add(e.lease(node))}
	b, _ := json.Marshal(&rec)
	return rec, b
}

// handleReadFirst is the general path of a hop: read the request record,
// then claim the node.
func (e *Engine) handleReadFirst(ctx context.Context, k keys, env *Envelope, raw []byte) error {
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil {
		return err
	}
	inst := instanceID(env.Cursor)
	switch {
	case rec.State == StatePaused:
		return e.park(ctx, k, env, raw)
	case terminalRequest(rec.State):
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return fmt.Errorf("%w: request %s is %s", ErrWrongState, env.RequestID, rec.State)
	}
	if env.DefHash != e.hash {
		err := fmt.Errorf("%w: hop has %s, this flow has %s", ErrDefinitionChanged, env.DefHash, e.hash)
		e.failRequest(ctx, k, nil, err)
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return err
	}

	r, err := e.newRun(ctx, k, env, rec.Trace)
	if err != nil {
		e.failRequest(ctx, k, nil, err)
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return err
	}
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return err
	}

	nrec, ver, ok, err := r.claim(ctx, inst, node)
	if err != nil || !ok {
		return err
	}
	err = r.execute(ctx, env, node, inst, nrec, ver)
	r.finishHop(ctx)
	return err
}

// values binds the Context's value store to the request's namespace.
func (r *run) values() sdk.ValueStore { return prefixedValues{ds: r.e.o.DataStore, prefix: r.k.work} }

type prefixedValues struct {
	ds     sdk.DataStore
	prefix string
}

func (p prefixedValues) Put(ctx context.Context, key string, v []byte) error {
	return p.ds.Put(ctx, p.prefix+key, v)
}
func (p prefixedValues) Get(ctx context.Context, key string) ([]byte, error) {
	return p.ds.Get(ctx, p.prefix+key)
}
func (p prefixedValues) Delete(ctx context.Context, key string) error {
	return p.ds.Delete(ctx, p.prefix+key)
}

// resolve finds the definition node a cursor names.
func (r *run) resolve(cursor []Frame) (*sdk.Node, error) {
	d := r.wf.Dag()
	var n *sdk.Node
	for i, f := range cursor {
		if d == nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, instanceID(cursor))
		}
		n = d.Lookup(f.Node)
		if n == nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, instanceID(cursor))
		}
		if i == len(cursor)-1 {
			break
		}
		switch n.Kind() {
		case sdk.KindSubDag, sdk.KindForEach:
			d = n.SubDag()
		case sdk.KindConditional:
			d = n.Branch(f.Key)
		default:
			d = nil
		}
	}
	return n, nil
}

// claim moves the node record of inst to running for this delivery. ok is
// false (with a nil error) when the hop is a duplicate of finished work.
func (r *run) claim(ctx context.Context, inst string, node *sdk.Node) (*nodeRecord, int64, bool, error) {
	st := r.e.o.StateStore
	key := r.k.node(inst)
	if v := r.env.NodeVersion; v > 0 {
		// Fast path: the record is still the pending one the emitter created.
		rec, nb := r.e.claimedRecord(r.env, node)
		nver, ok, err := st.CompareAndSwap(ctx, key, v, nb, r.e.o.RequestTTL)
		if err != nil {
			return nil, 0, false, fmt.Errorf("claim node %s: %w", inst, err)
		}
		if ok {
			return &rec, nver, true, nil
		}
	}
	for {
		b, ver, err := st.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			// The emitter always creates the record first; a missing record
			// means the request was cleaned up or the hop is forged-but-signed
			// garbage. Drop it.
			return nil, 0, false, nil
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("read node record: %w", err)
		}
		var rec nodeRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, 0, false, fmt.Errorf("corrupt node record %s: %w", inst, err)
		}
		now := r.e.o.Now()
		switch rec.Status {
		case NodePending:
			// A pending record that was started before was released by a
			// delivery that could not route its output: some of its
			// markers may have landed, so re-send what they guard.
			r.recovering = rec.Started != nil
		case NodeRunning:
			if now.Before(rec.LeaseUntil) {
				return nil, 0, false, fmt.Errorf("%w: node %s until %s", ErrHopInProgress, inst, rec.LeaseUntil.Format(time.RFC3339))
			}
			r.recovering = true
		case NodeSucceeded:
			return nil, 0, false, r.recoverBranchEnd(ctx, node)
		default: // waiting, completing, failed, cancelled: already done
			return nil, 0, false, nil
		}
		rec.Status = NodeRunning
		rec.Hop = r.env.HopID
		rec.LeaseUntil = now.Add(r.e.lease(node))
		if rec.Started == nil {
			rec.Started = &now
		}
		nb, _ := json.Marshal(&rec)
		nver, ok, err := st.CompareAndSwap(ctx, key, ver, nb, r.e.o.RequestTTL)
		if err != nil {
			return nil, 0, false, fmt.Errorf("claim node %s: %w", inst, err)
		}
		if ok {
			return &rec, nver, true, nil
		}
	}
}

func (e *Engine) lease(node *sdk.Node) time.Duration {
	l := e.o.Lease
	attempts := 1
	if p := node.RetryPolicy(); p != nil && p.MaxAttempts > 1 {
		attempts = p.MaxAttempts
	}
	if t := node.Timeout(); t > 0 {
		l += time.Duration(attempts) * t
	}
	return l
}

// setNode writes the node record with CAS from version ver.
func (r *run) setNode(ctx context.Context, inst string, rec *nodeRecord, ver int64) (int64, error) {
	b, _ := json.Marshal(rec)
	st := r.e.o.StateStore
	nver, ok, err := st.CompareAndSwap(ctx, r.k.node(inst), ver, b, r.e.o.RequestTTL)
	if err != nil {
		return 0, fmt.Errorf("update node %s: %w", inst, err)
	}
	if !ok {
		return 0, fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, inst)
	}
	return nver, nil
}

// execute runs the claimed node and routes its output.
func (r *run) execute(ctx context.Context, env *Envelope, node *sdk.Node, inst string, rec *nodeRecord, ver int64) error {
	input, err := r.input(ctx, env)
	if err != nil {
		return r.nodeFailed(ctx, inst, rec, ver, err)
	}
	out, attempts, err := r.runNode(ctx, node, env.Cursor, input)
	rec.Attempts = attempts
	if err != nil {
		return r.nodeFailed(ctx, inst, rec, ver, &sdk.NodeError{Node: inst, Attempts: attempts, Err: err})
	}
	if node.IsDynamic() {
		return r.fork(ctx, env.Cursor, node, inst, rec, ver, out)
	}
	if _, _, ok := r.branchEnd(env.Cursor, node); ok {
		r.final = &finalWrite{inst: inst, rec: rec, ver: ver}
	}
	if err := r.complete(ctx, env.Cursor, node, out); err != nil {
		if r.finalDone {
			// The node is done; the redelivery of this hop finishes what
			// is left (recoverBranchEnd).
			return err
		}
		return r.release(ctx, inst, rec, ver, err)
	}
	if r.finalDone {
		return nil
	}
	now := r.e.o.Now()
	rec.Status, rec.Ended, rec.Hop, rec.LeaseUntil = NodeSucceeded, &now, "", time.Time{}
	return r.setNodeLast(ctx, inst, rec, ver)
}

// setNodeLast writes the node's final status, the last write of the hop,
// and reads the request record in the same step, so that finishHop need not
// read it again when the request goes on.
func (r *run) setNodeLast(ctx context.Context, inst string, rec *nodeRecord, ver int64) error {
	b, _ := json.Marshal(rec)
	res, err := r.e.txn(ctx, sdk.TxnSwap(r.k.node(inst), ver, b, r.e.o.RequestTTL), sdk.TxnGet(r.k.record))
	if err != nil {
		return fmt.Errorf("update node %s: %w", inst, err)
	}
	if !res[0].OK {
		return fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, inst)
	}
	r.runningAfter = requestRunning(res[1])
	return nil
}

// requestRunning reports whether a txn's read of the request record found
// it not ended.
func requestRunning(res sdk.TxnResult) bool {
	var req RequestRecord
	return res.OK && json.Unmarshal(res.Value, &req) == nil && !terminalRequest(req.State)
}

// release gives the node back (status pending) after a failure to route its
// output, so that a redelivery can run it again at once.
func (r *run) release(ctx context.Context, inst string, rec *nodeRecord, ver int64, cause error) error {
	r.dropUnsent(ctx) // while the claim still holds (see reserve.go)
	rec.Status, rec.Hop, rec.LeaseUntil = NodePending, "", time.Time{}
	if _, err := r.setNode(ctx, inst, rec, ver); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// input assembles the node's input: inline data, a data reference, or the
// recorded inputs of a join passed through its aggregator.
func (r *run) input(ctx context.Context, env *Envelope) ([]byte, error) {
	if len(env.Join) > 0 {
		return r.joinInput(ctx, env.Join)
	}
	if env.DataRef != "" {
		b, err := r.e.o.DataStore.Get(ctx, r.k.work+env.DataRef)
		if err != nil {
			return nil, fmt.Errorf("load hop input: %w", err)
		}
		return b, nil
	}
	return env.Data, nil
}

func (r *run) joinInput(ctx context.Context, joinInst string) ([]byte, error) {
	joinCursor, err := parseInstance(joinInst)
	if err != nil {
		return nil, err
	}
	jn, err := r.resolve(joinCursor)
	if err != nil {
		return nil, err
	}
	arrived, err := r.e.o.StateStore.List(ctx, r.k.joins(joinInst))
	if err != nil {
		return nil, fmt.Errorf("load join arrivals of %s: %w", joinInst, err)
	}
	markers := make(map[string][]byte, len(arrived))
	for _, kv := range arrived {
		markers[kv.Key] = kv.Value
	}
	inputs := make(map[string][]byte, jn.InDegree())
	for _, p := range jn.Parents() {
		if _, data := p.EdgeOptions(jn); !data {
			continue
		}
		key := r.k.join(joinInst, p.Name())
		b, err := r.loadMarked(ctx, key, markers[key])
		if err != nil {
			return nil, fmt.Errorf("load join input %s -> %s: %w", p.Name(), joinInst, err)
		}
		inputs[p.Name()] = b
	}
	r.sctx.NodeInput = inputs
	agg := jn.Aggregator()
	if agg == nil {
		if len(inputs) == 1 {
			for _, b := range inputs {
				return b, nil
			}
		}
		return nil, nil
	}
	return callAggregator(agg, inputs, "aggregator of "+joinInst)
}

// complete routes the output of a finished node: one hop per child that
// became ready, or, for an end node, the completion of its DAG.
func (r *run) complete(ctx context.Context, cursor []Frame, node *sdk.Node, out []byte) error {
	if children := node.Children(); len(children) > 0 {
		// User forwarders run one by one; only the emits run concurrently.
		payloads := make([][]byte, len(children))
		for i, c := range children {
			fwd, data := node.EdgeOptions(c)
			if !data {
				continue
			}
			payloads[i] = out
			if fwd != nil {
				var err error
				if payloads[i], err = callForwarder(fwd, out, node.ID()+" -> "+c.Name()); err != nil {
					return err
				}
			}
		}
		return concurrently(ctx, len(children), func(i int) error {
			return r.toChild(ctx, cursor, node, children[i], payloads[i])
		})
	}
	d := node.Dag()
	parent := cursor[:len(cursor)-1]
	if ends := d.Ends(); len(ends) > 1 {
		// Several end nodes: a virtual end joins them without data.
		endInst := instanceID(parent) + "/[end]"
		arrived, err := r.arrive(ctx, endInst, node.Name(), nil)
		if err != nil {
			return fmt.Errorf("record end arrival: %w", err)
		}
		if arrived < len(ends) {
			return nil
		}
		done, _ := json.Marshal(&nodeRecord{NodeStatus: NodeStatus{Status: NodeSucceeded}})
		_, created, err := r.e.o.StateStore.Create(ctx, r.k.node(endInst), done, r.e.o.RequestTTL)
		if err != nil {
			return fmt.Errorf("fire virtual end: %w", err)
		}
		if !created && !r.recovering {
			return nil
		}
		out = nil
	}
	return r.dagDone(ctx, d, parent, out)
}

// dagDone continues after DAG d (entered at cursor parent) produced out.
func (r *run) dagDone(ctx context.Context, d *sdk.Dag, parent []Frame, out []byte) error {
	p := d.Parent()
	if p == nil {
		return r.finish(ctx, out)
	}
	switch p.Kind() {
	case sdk.KindSubDag:
		return r.complete(ctx, parent, p, out)
	default:
		last := parent[len(parent)-1]
		dyn := append(append([]Frame(nil), parent[:len(parent)-1]...), Frame{Node: last.Node})
		return r.branchDone(ctx, dyn, p, last.Key, last.Branches, out)
	}
}

// toChild forwards payload (node's output after the edge's forwarder) from
// node (at cursor) to child c.
func (r *run) toChild(ctx context.Context, cursor []Frame, node, c *sdk.Node, payload []byte) error {
	_, data := node.EdgeOptions(c)
	sibling := append(append([]Frame(nil), cursor[:len(cursor)-1]...), Frame{Node: c.Name()})
	target := leafCursor(cursor[:len(cursor)-1], c)
	if c.InDegree() == 1 {
		return r.emit(ctx, target, "", payload, !data)
	}
	joinInst := instanceID(sibling)
	var marker []byte
	if data {
		var err error
		if marker, err = r.mark(ctx, r.k.join(joinInst, node.Name()), payload); err != nil {
			return fmt.Errorf("store join input: %w", err)
		}
	}
	arrived, err := r.arrive(ctx, joinInst, node.Name(), marker)
	if err != nil {
		return fmt.Errorf("record join arrival: %w", err)
	}
	if arrived < c.InDegree() {
		return nil
	}
	return r.emit(ctx, target, joinInst, nil, false)
}

// arrive records the arrival of parent at join instance joinInst (with its
// data marker) and returns how many parents have arrived, in one step.
func (r *run) arrive(ctx context.Context, joinInst, parent string, marker []byte) (int, error) {
	res, err := r.e.txn(ctx, sdk.TxnCreate(r.k.join(joinInst, parent), marker, r.e.o.RequestTTL), sdk.TxnCount(r.k.joins(joinInst)))
	if err != nil {
		return 0, err
	}
	return res[1].Count, nil
}

// emit creates the pending record of the target instance and forwards a
// hop to it. Exactly one caller creates the record; the others (duplicates)
// do nothing, unless this delivery is recovering, in which case the hop is
// sent again (the receiver deduplicates).
func (r *run) emit(ctx context.Context, target []Frame, join string, data []byte, noData bool) error {
	inst := instanceID(target)
	var (
		nver int64
		send bool
	)
	if c := r.reservations[inst]; c != nil {
		nver, send = c.version, c.sendable
		c.sent = send || r.recovering
	} else {
		var created bool
		var err error
		nver, created, err = r.e.o.StateStore.Create(ctx, r.k.node(inst), pendingRecord(), r.e.o.RequestTTL)
		if err != nil {
			return fmt.Errorf("create node record %s: %w", inst, err)
		}
		send = created
	}
	if !send && !r.recovering {
		return nil
	}
	env := &Envelope{
		Version: EnvelopeVersion, Flow: r.e.o.Flow, RequestID: r.reqID, DefHash: r.e.hash,
		HopID: hopID(r.reqID, inst), Cursor: target, NodeVersion: nver, Join: join, NoData: noData,
		Query: r.env.Query, CallbackURL: r.env.CallbackURL, IssuedAt: r.e.o.Now(),
	}
	if len(r.trace) > 0 {
		env.Trace = make(map[string]string, len(r.trace)+2)
		for k, v := range r.trace {
			env.Trace[k] = v
		}
	}
	if len(data) > r.e.o.InlineLimit {
		ref := "h/" + env.HopID
		if err := r.e.o.DataStore.Put(ctx, r.k.work+ref, data); err != nil {
			return fmt.Errorf("store hop input: %w", err)
		}
		env.DataRef = ref
	} else {
		env.Data = data
	}
	r.e.obs.HopEmitted(ctx, env)
	sealed, err := r.e.o.Signer.Seal(env)
	if err != nil {
		return err
	}
	if err := r.e.o.Transport.Send(ctx, r.reqID, sealed); err != nil {
		// Give the child back so a retry of this hop sends it again.
		_ = r.e.o.StateStore.Delete(ctx, r.k.node(inst))
		return fmt.Errorf("%w to %s: %w", ErrHopNotSent, inst, err)
	}
	return nil
}

// fork starts the branches of a conditional or foreach node.
func (r *run) fork(ctx context.Context, cursor []Frame, node *sdk.Node, inst string, rec *nodeRecord, ver int64, out []byte) error {
	var keys []string
	inputs := map[string][]byte{}
	if rec.Options != nil {
		// A recovering delivery reuses the recorded choice. The inputs of
		// the branches launched at once were never stored: split the
		// node's output again (the inputs of later branches are stored).
		keys = rec.Options
		if _, m, err := r.branchKeys(node, out); err == nil {
			inputs = m
		}
	} else {
		var err error
		if keys, inputs, err = r.branchKeys(node, out); err != nil {
			return r.nodeFailed(ctx, inst, rec, ver, &sdk.NodeError{Node: inst, Attempts: rec.Attempts, Err: err})
		}
	}
	if len(keys) == 0 {
		// Nothing selected: the input passes through (conditional), or the
		// aggregator sees no results (foreach).
		res := out
		if node.Kind() == sdk.KindForEach {
			res = nil
			if agg := node.SubAggregator(); agg != nil && node.BranchDataForwarded() {
				var err error
				if res, err = callAggregator(agg, map[string][]byte{}, "aggregator of "+inst); err != nil {
					return r.nodeFailed(ctx, inst, rec, ver, &sdk.NodeError{Node: inst, Err: err})
				}
			}
		}
		if err := r.complete(ctx, cursor, node, res); err != nil {
			return r.release(ctx, inst, rec, ver, err)
		}
		now := r.e.o.Now()
		rec.Status, rec.Ended, rec.Hop, rec.LeaseUntil = NodeSucceeded, &now, "", time.Time{}
		_, err := r.setNode(ctx, inst, rec, ver)
		return err
	}
	limit := len(keys)
	if m := node.MaxConcurrency(); node.Kind() == sdk.KindForEach && m > 0 && m < limit {
		limit = m
	}
	forward := node.BranchDataForwarded()
	if rec.Options == nil {
		// Record the choice (and park inputs of branches launched later)
		// before launching anything.
		if forward && limit < len(keys) {
			for _, key := range keys[limit:] {
				if err := r.e.o.DataStore.Put(ctx, r.k.branchInput(inst, key), inputs[key]); err != nil {
					return r.release(ctx, inst, rec, ver, fmt.Errorf("store branch input: %w", err))
				}
			}
		}
		rec.Options = keys
		var err error
		if ver, err = r.setNode(ctx, inst, rec, ver); err != nil {
			return err
		}
	}
	if r.e.tx != nil {
		// Create the branches' start records in a few transactions rather
		// than one round trip per branch.
		starts := make([]string, limit)
		for i := range starts {
			starts[i] = instanceID(branchStart(cursor, node, keys[i], len(keys)))
		}
		if err := r.reserve(ctx, starts); err != nil {
			return r.release(ctx, inst, rec, ver, fmt.Errorf("create branch records: %w", err))
		}
	}
	if err := concurrently(ctx, limit, func(i int) error {
		return r.launch(ctx, cursor, node, inst, keys[i], len(keys), inputs, forward)
	}); err != nil {
		return r.release(ctx, inst, rec, ver, err)
	}
	rec.Status, rec.Hop, rec.LeaseUntil, rec.Launched = NodeWaiting, "", time.Time{}, limit
	if _, err := r.setNode(ctx, inst, rec, ver); err != nil {
		return err
	}
	// Every branch may have finished before the node was marked waiting;
	// their completers then left the completion to us.
	return r.tryCompleteDynamic(ctx, cursor, node, inst)
}

// branchKeys evaluates the condition or foreach split of node.
func (r *run) branchKeys(node *sdk.Node, data []byte) ([]string, map[string][]byte, error) {
	if node.Kind() == sdk.KindForEach {
		m, err := callForEach(node.ForEachFunc(), data, node.ID())
		if err != nil {
			return nil, nil, err
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sortStrings(keys)
		return keys, m, nil
	}
	sel, err := callCondition(node.ConditionFunc(), data, node.ID())
	if err != nil {
		return nil, nil, err
	}
	seen := make(map[string]bool, len(sel))
	keys := make([]string, 0, len(sel))
	inputs := make(map[string][]byte, len(sel))
	for _, k := range sel {
		if node.Branch(k) == nil {
			return nil, nil, fmt.Errorf("%w: %q (declared: %v)", sdk.ErrUndeclaredCondition, k, node.Conditions())
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
			inputs[k] = data
		}
	}
	return keys, inputs, nil
}

// launch emits the hop that starts branch key (of total) of dynamic node
// (at cursor).
func (r *run) launch(ctx context.Context, cursor []Frame, node *sdk.Node, inst, key string, total int, inputs map[string][]byte, forward bool) error {
	target := branchStart(cursor, node, key, total)
	if !forward {
		return r.emit(ctx, target, "", nil, true)
	}
	data, ok := inputs[key]
	if !ok {
		b, err := r.e.o.DataStore.Get(ctx, r.k.branchInput(inst, key))
		if err != nil {
			return fmt.Errorf("load branch input %s[%s]: %w", inst, key, err)
		}
		data = b
	}
	return r.emit(ctx, target, "", data, false)
}

// branchStart is the cursor of the first node of branch key (one of total)
// of the dynamic node at cursor.
func branchStart(cursor []Frame, node *sdk.Node, key string, total int) []Frame {
	branchDag := node.SubDag()
	if node.Kind() == sdk.KindConditional {
		branchDag = node.Branch(key)
	}
	base := append(append([]Frame(nil), cursor[:len(cursor)-1]...), Frame{Node: node.Name(), Key: key, Branches: total})
	return leafCursor(base, branchDag.Start())
}

// branchDone records the result of branch key of the dynamic node at cursor
// and, when it is the last branch to finish, aggregates and continues.
// branches is the number of branches the node started, from the branch's
// cursor (0 if unknown).
func (r *run) branchDone(ctx context.Context, cursor []Frame, node *sdk.Node, key string, branches int, out []byte) error {
	inst := instanceID(cursor)
	st := r.e.o.StateStore
	forward := node.BranchDataForwarded()
	var marker []byte
	if forward {
		var err error
		if marker, err = r.mark(ctx, r.k.branch(inst, key), out); err != nil {
			return fmt.Errorf("store branch result: %w", err)
		}
	}
	create := sdk.TxnCreate(r.k.branch(inst, key), marker, r.e.o.RequestTTL)
	if branches > 0 && !heldBack(node, branches) {
		// Knowing how many branches there are, only a branch that may be
		// the last reads the node's record (it lists every branch key).
		ops := []sdk.TxnOp{create, sdk.TxnCount(r.k.branches(inst))}
		f := r.final
		if f != nil {
			// The node ending the branch is done with it: its final
			// status rides in the same step, guarding it, with a read of
			// the request record for finishHop.
			done := *f.rec
			now := r.e.o.Now()
			done.Status, done.Ended, done.Hop, done.LeaseUntil = NodeSucceeded, &now, "", time.Time{}
			b, _ := json.Marshal(&done)
			ops = []sdk.TxnOp{sdk.TxnSwap(r.k.node(f.inst), f.ver, b, r.e.o.RequestTTL), ops[0], ops[1], sdk.TxnGet(r.k.record)}
		}
		res, err := r.e.txn(ctx, ops...)
		if err != nil {
			return fmt.Errorf("record branch result: %w", err)
		}
		if f != nil {
			if !res[0].OK {
				return fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, f.inst)
			}
			r.final, r.finalDone, r.runningAfter = nil, true, requestRunning(res[3])
			res = res[1:]
		}
		if res[1].Count < branches {
			return nil
		}
		return r.tryCompleteDynamic(ctx, cursor, node, inst)
	}
	// One step records the result and reads what completion needs.
	res, err := r.e.txn(ctx, create, sdk.TxnGet(r.k.node(inst)), sdk.TxnCount(r.k.branches(inst)))
	if err != nil {
		return fmt.Errorf("record branch result: %w", err)
	}
	rec, err := dynamicRecord(inst, res[1])
	if err != nil {
		return err
	}
	finished := res[2].Count
	// Concurrency limit: each finished branch lets one more start. Launch
	// from the highest index now allowed down to the first one already
	// launched; the pending-record create makes each launch happen once.
	if limit, total := node.MaxConcurrency(), len(rec.Options); heldBack(node, total) {
		for i := min(total, limit+finished) - 1; i >= limit; i-- {
			target := branchStart(cursor, node, rec.Options[i], total)
			if _, _, err := st.Get(ctx, r.k.node(instanceID(target))); err == nil && !r.recovering {
				break
			}
			if err := r.launch(ctx, cursor, node, inst, rec.Options[i], total, nil, forward); err != nil {
				return err
			}
		}
	}
	return r.completeDynamic(ctx, cursor, node, inst, rec, res[1].Version, finished)
}

// heldBack reports whether dynamic node holds some of its total branches
// back behind a concurrency limit (a finished branch then launches one).
func heldBack(node *sdk.Node, total int) bool {
	limit := node.MaxConcurrency()
	return node.Kind() == sdk.KindForEach && limit > 0 && limit < total
}

// dynamicRecord decodes the record of dynamic node inst read by a txn.
func dynamicRecord(inst string, res sdk.TxnResult) (*nodeRecord, error) {
	if !res.OK {
		return nil, fmt.Errorf("read dynamic node %s: %w", inst, sdk.ErrNotFound)
	}
	var rec nodeRecord
	if err := json.Unmarshal(res.Value, &rec); err != nil {
		return nil, fmt.Errorf("corrupt node record %s: %w", inst, err)
	}
	return &rec, nil
}

// tryCompleteDynamic completes the dynamic node at cursor if it is waiting
// and all of its branches have finished. The fork calls it after marking the
// node waiting, because every branch may have finished before that.
func (r *run) tryCompleteDynamic(ctx context.Context, cursor []Frame, node *sdk.Node, inst string) error {
	res, err := r.e.txn(ctx, sdk.TxnGet(r.k.node(inst)), sdk.TxnCount(r.k.branches(inst)))
	if err != nil {
		return fmt.Errorf("read dynamic node %s: %w", inst, err)
	}
	rec, err := dynamicRecord(inst, res[0])
	if errors.Is(err, sdk.ErrNotFound) {
		// The request ended and was cleaned up meanwhile (the branches
		// finished while the fork was still running): nothing is left to do.
		return nil
	}
	if err != nil {
		return err
	}
	return r.completeDynamic(ctx, cursor, node, inst, rec, res[0].Version, res[1].Count)
}

// completeDynamic completes the dynamic node inst, whose record rec (at
// version ver) was read in one step with the count of its finished
// branches: when it is waiting and every branch has finished, exactly one
// caller wins the CAS from waiting to completing, aggregates, continues and
// marks the node succeeded. Completing holds a lease like a running node:
// when the completer dies, a later call (the redelivery of a branch's end
// hop, see recoverBranchEnd) takes the completion over once it runs out.
func (r *run) completeDynamic(ctx context.Context, cursor []Frame, node *sdk.Node, inst string, rec *nodeRecord, ver int64, finished int) error {
	now := r.e.o.Now()
	switch rec.Status {
	case NodeWaiting:
		if finished < len(rec.Options) {
			return nil
		}
	case NodeCompleting:
		if now.Before(rec.LeaseUntil) {
			return fmt.Errorf("%w: completion of %s until %s", ErrHopInProgress, inst, rec.LeaseUntil.Format(time.RFC3339))
		}
		// The completer died: some of its sends may have happened.
		r.recovering = true
	default:
		return nil // the fork is still running (it will check), or done
	}
	// Claim the completion first, so the aggregator (user code) runs once.
	rec.Status, rec.Hop, rec.LeaseUntil = NodeCompleting, r.env.HopID, now.Add(r.e.lease(node))
	ver, err := r.setNode(ctx, inst, rec, ver)
	if errors.Is(err, ErrHopInProgress) {
		return nil // another delivery completes it
	}
	if err != nil {
		return fmt.Errorf("complete dynamic node %s: %w", inst, err)
	}
	res, err := r.branchResults(ctx, node, inst, rec.Options)
	if err != nil {
		var ne *sdk.NodeError
		if !errors.As(err, &ne) {
			return err // the lease runs out and a redelivery takes over
		}
		r.e.failRequest(ctx, r.k, r, ne)
		end := r.e.o.Now()
		rec.Status, rec.Ended, rec.Error, rec.Hop, rec.LeaseUntil = NodeFailed, &end, ne.Error(), "", time.Time{}
		return r.setNodeLast(ctx, inst, rec, ver)
	}
	if err := r.complete(ctx, cursor, node, res); err != nil {
		return err
	}
	end := r.e.o.Now()
	rec.Status, rec.Ended, rec.Hop, rec.LeaseUntil = NodeSucceeded, &end, "", time.Time{}
	return r.setNodeLast(ctx, inst, rec, ver)
}

// branchResults loads the results of the branches keys of dynamic node
// inst and aggregates them (nil when the node does not forward branch
// data). A failing aggregator gives a *sdk.NodeError.
func (r *run) branchResults(ctx context.Context, node *sdk.Node, inst string, keys []string) ([]byte, error) {
	if !node.BranchDataForwarded() {
		return nil, nil
	}
	done, err := r.e.o.StateStore.List(ctx, r.k.branches(inst))
	if err != nil {
		return nil, fmt.Errorf("load branch results: %w", err)
	}
	markers := make(map[string][]byte, len(done))
	for _, kv := range done {
		markers[kv.Key] = kv.Value
	}
	results := make(map[string][]byte, len(keys))
	for _, k := range keys {
		key := r.k.branch(inst, k)
		v, err := r.loadMarked(ctx, key, markers[key])
		if err != nil {
			return nil, fmt.Errorf("load branch result %s[%s]: %w", inst, k, err)
		}
		results[k] = v
	}
	agg := node.SubAggregator()
	if agg == nil {
		return nil, nil
	}
	out, err := callAggregator(agg, results, "aggregator of "+inst)
	if err != nil {
		return nil, &sdk.NodeError{Node: inst, Err: err}
	}
	return out, nil
}

// branchEnd reports whether node (at cursor) ends a branch of a dynamic
// node that knows its number of branches, on a store with transactions:
// the node's final status then rides in the transaction that records the
// branch's result (branchDone). It returns the dynamic node and its cursor.
func (r *run) branchEnd(cursor []Frame, node *sdk.Node) (*sdk.Node, []Frame, bool) {
	d := node.Dag()
	dyn := d.Parent()
	if r.e.tx == nil || len(node.Children()) > 0 || len(d.Ends()) != 1 || dyn == nil || !dyn.IsDynamic() || len(cursor) < 2 {
		return nil, nil, false
	}
	f := cursor[len(cursor)-2]
	if f.Node != dyn.Name() || f.Branches <= 0 || heldBack(dyn, f.Branches) {
		return nil, nil, false
	}
	return dyn, append(append([]Frame(nil), cursor[:len(cursor)-2]...), Frame{Node: f.Node}), true
}

// recoverBranchEnd runs for a redelivered hop whose node has succeeded. If
// the node ends a branch whose result rode with its final status, the
// delivery that wrote them may have died before it completed the dynamic
// node (it was the last branch to finish): complete it now, or wait for the
// delivery that is completing it.
func (r *run) recoverBranchEnd(ctx context.Context, node *sdk.Node) error {
	dyn, cursor, ok := r.branchEnd(r.env.Cursor, node)
	if !ok {
		return nil
	}
	if err := r.tryCompleteDynamic(ctx, cursor, dyn, instanceID(cursor)); err != nil {
		return err
	}
	r.finishHop(ctx)
	return nil
}

// Markers of join arrivals and branch results carry their data: inline
// (first byte markInline) when it fits the inline limit, else a reference
// (markRef) to the same key in the DataStore. One StateStore write then
// records both the arrival and, usually, its data.
const (
	markInline byte = 'i'
	markRef    byte = 'r'
)

// mark returns the marker value for data, storing data in the DataStore
// under key first when it is too large to ride inline.
func (r *run) mark(ctx context.Context, key string, data []byte) ([]byte, error) {
	if len(data) <= r.e.o.InlineLimit {
		return append([]byte{markInline}, data...), nil
	}
	if err := r.e.o.DataStore.Put(ctx, key, data); err != nil {
		return nil, err
	}
	return []byte{markRef}, nil
}

// loadMarked returns the data a marker value carries or references.
func (r *run) loadMarked(ctx context.Context, key string, marker []byte) ([]byte, error) {
	switch {
	case len(marker) > 0 && marker[0] == markInline:
		return marker[1:], nil
	case len(marker) > 0 && marker[0] == markRef:
		return r.e.o.DataStore.Get(ctx, key)
	}
	return nil, fmt.Errorf("%w: no recorded data at %s", sdk.ErrNotFound, key)
}

// parseInstance turns an instance id back into a cursor.
func parseInstance(inst string) ([]Frame, error) {
	var c []Frame
	for _, seg := range splitSlash(inst) {
		f := Frame{Node: seg}
		if i := indexByte(seg, '['); i >= 0 && seg[len(seg)-1] == ']' {
			key, err := url.PathUnescape(seg[i+1 : len(seg)-1])
			if err != nil {
				return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, inst)
			}
			f = Frame{Node: seg[:i], Key: key}
		}
		if f.Node == "" {
			return nil, fmt.Errorf("%w: %s", ErrInvalidCursor, inst)
		}
		c = append(c, f)
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidCursor)
	}
	return c, nil
}
