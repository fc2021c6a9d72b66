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
