package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Receive handles a sealed hop that a Transport delivered: it verifies the
// hop, runs the node it names and sends the hops of the nodes that became
// ready. It returns nil when the hop was run, or when there was nothing to
// do: a duplicate of finished work, a hop of a paused request (its node
// waits for Resume), of a request that has ended, or of an earlier request
// that had the same id. A queue should treat nil as done.
func (e *Engine) Receive(ctx context.Context, body []byte) error {
	return e.ReceiveFor(ctx, "", body)
}

// ReceiveFor is Receive for a hop that must belong to request id ("":
// any request). A verified hop of another request is rejected with
// ErrWrongRequest before anything is read or written. The hop is decoded
// once, for both checks.
func (e *Engine) ReceiveFor(ctx context.Context, id string, body []byte) error {
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
	if id != "" && env.RequestID != id {
		return fmt.Errorf("%w: hop of request %q received for request %q", ErrWrongRequest, env.RequestID, id)
	}
	now := e.o.Now()
	if age := now.Sub(env.IssuedAt); age > e.o.MaxHopAge {
		return fmt.Errorf("%w: signed %s ago (limit %s)", ErrStaleHop, age.Round(time.Second), e.o.MaxHopAge)
	}
	if ahead := env.IssuedAt.Sub(now); ahead > e.o.MaxClockSkew {
		return fmt.Errorf("%w: dated %s ahead of this clock (limit %s)", ErrFutureHop, ahead.Round(time.Second), e.o.MaxClockSkew)
	}
	return e.handle(ctx, env)
}

// handle runs the hop env.
func (e *Engine) handle(ctx context.Context, env *Envelope) error {
	ctx = e.obs.HopReceived(ctx, env)
	k := newKeys(e.o.Flow, env.RequestID, env.Incarnation)
	if env.Complete {
		return e.handleComplete(ctx, k, env)
	}
	if e.tx != nil && env.NodeVersion > 0 && env.DefHash == e.hash {
		if done, err := e.handleClaimFirst(ctx, k, env); done {
			return err
		}
	}
	return e.handleReadFirst(ctx, k, env)
}

// handleClaimFirst is the common case of a hop, with a sdk.Transactor: one
// transaction claims the node on the version the hop carries and reads the
// request record. done is false (nothing was written) when the hop needs
// the general path: the claim did not match (a duplicate, a takeover) or
// the flow could not be built.
func (e *Engine) handleClaimFirst(ctx context.Context, k keys, env *Envelope) (done bool, err error) {
	r, err := e.newRun(ctx, k, env, nil)
	if err != nil {
		return false, nil
	}
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return true, err
	}
	inst := instanceID(env.Cursor)
	nrec := e.claimedRecord(env, nil)
	kids := staticChildren(env.Cursor, node)
	ops := append(make([]sdk.TxnOp, 0, 2+len(kids)), sdk.TxnSwap(k.node(inst), env.NodeVersion, nrec.encode(), e.o.RequestTTL), sdk.TxnGet(k.record))
	res, err := e.tx.Txn(ctx, append(ops, r.reserveOps(kids)...)...)
	if err != nil {
		return true, fmt.Errorf("claim node %s: %w", inst, err)
	}
	if !res[0].OK {
		return false, nil
	}
	r.reserved(kids, res[2:])
	rec, known, ok := e.hopRequest(res[1], env)
	if !ok || rec.State == StatePaused || terminalRequest(rec.State) {
		r.dropReservations(ctx)
	}
	if !ok {
		return true, nil // a hop of an earlier request with this id, or of none
	}
	switch {
	case rec.State == StatePaused:
		// Give the node back as it was: it waits, with its hop, for Resume.
		pending := *nrec
		pending.Status, pending.Hop, pending.LeaseUntil, pending.Started = NodePending, "", time.Time{}, nil
		_, _, err := e.o.StateStore.CompareAndSwap(ctx, k.node(inst), res[0].Version, pending.encode(), e.o.RequestTTL)
		return true, err
	case terminalRequest(rec.State):
		cancelled := &nodeRecord{NodeStatus: NodeStatus{Status: NodeCancelled}}
		_, _, _ = e.o.StateStore.CompareAndSwap(ctx, k.node(inst), res[0].Version, cancelled.encode(), e.o.RequestTTL)
		e.drain(ctx, k)
		return true, nil
	}
	r.trace, r.known = rec.Trace, known
	r.take(ctx, inst, nrec, res[0].Version)
	err = r.execute(ctx, node)
	r.finishHop(ctx)
	return true, err
}

// hopRequest decodes the request record read with a hop's claim. ok is
// false when the hop has nothing to do with it: there is no such request
// (it ended long ago), or the record is of another incarnation.
func (e *Engine) hopRequest(res sdk.TxnResult, env *Envelope) (*RequestRecord, *storedRecord, bool) {
	if !res.OK {
		return nil, nil, false
	}
	rec, err := decodeRecord(res.Value)
	if err != nil || rec.Incarnation != env.Incarnation {
		if err == nil {
			e.log.Debug("hop of an earlier request with the same id dropped", "request", env.RequestID)
		}
		return nil, nil, false
	}
	return rec, &storedRecord{value: res.Value, version: res.Version}, true
}

// claimedRecord is the record of the node hop env starts while the
// delivery holds it: running, under a lease, still holding the hop so that
// it can be sent again if the delivery dies. from is the record as read
// (nil: claimed unread, on the version the hop carries).
func (e *Engine) claimedRecord(env *Envelope, from *nodeRecord) *nodeRecord {
	now := e.o.Now()
	rec := &nodeRecord{}
	if from != nil {
		*rec = *from
	}
	rec.Status, rec.Hop, rec.LeaseUntil, rec.Touched = NodeRunning, env.HopID, now.Add(e.o.Lease), now
	if rec.Started == nil {
		rec.Started = &now
	}
	rec.Redelivered = max(rec.Redelivered, env.Redelivered)
	if rec.Send == nil {
		// The hop may be nowhere else: its sender can die before its last
		// write stores it in the outbox.
		send := *env
		send.NodeVersion, send.IssuedAt = 0, time.Time{}
		rec.Send = &send
	}
	return rec
}

// handleReadFirst is the general path of a hop: read the request record,
// then claim the node.
func (e *Engine) handleReadFirst(ctx context.Context, k keys, env *Envelope) error {
	b, ver, err := e.loadRecordRaw(ctx, k)
	if errors.Is(err, ErrUnknownRequest) {
		return nil // ended and gone, or never started: nothing to do
	}
	if err != nil {
		return err
	}
	rec, known, ok := e.hopRequest(sdk.TxnResult{OK: true, Value: b, Version: ver}, env)
	if !ok {
		return nil
	}
	inst := instanceID(env.Cursor)
	switch {
	case rec.State == StatePaused:
		return nil // the node waits, with its hop, for Resume
	case terminalRequest(rec.State):
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return nil
	}
	if env.DefHash != e.hash {
		err := fmt.Errorf("%w: hop has %s, this flow has %s", ErrDefinitionChanged, env.DefHash, e.hash)
		e.failRequest(ctx, k, err)
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return err
	}
	r, err := e.newRun(ctx, k, env, rec.Trace)
	if err != nil {
		e.failRequest(ctx, k, err)
		e.cancelNode(ctx, k, inst)
		e.drain(ctx, k)
		return err
	}
	r.known = known
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return err
	}
	ok, err = r.claim(ctx, inst)
	if err != nil || !ok {
		return err
	}
	if err := r.reserve(ctx, env.Cursor, node); err != nil {
		r.hold.stop()
		return r.release(ctx, fmt.Errorf("reserve the records of the children of %s: %w", inst, err))
	}
	err = r.execute(ctx, node)
	r.finishHop(ctx)
	return err
}

// claim makes this delivery the holder of node inst. ok is false (with a
// nil error) when there is nothing to run: the node has finished, or its
// record is gone with the request's cleanup.
func (r *run) claim(ctx context.Context, inst string) (bool, error) {
	st, key := r.e.o.StateStore, r.k.node(inst)
	for {
		b, ver, err := st.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read node record: %w", err)
		}
		rec, err := decodeNode(inst, b)
		if err != nil {
			return false, err
		}
		switch rec.Status {
		case NodePending:
		case NodeRunning:
			if r.e.o.Now().Before(rec.LeaseUntil) {
				return false, fmt.Errorf("%w: node %s until %s", ErrHopInProgress, inst, rec.LeaseUntil.Format(time.RFC3339))
			}
			// The delivery that held it stopped renewing its lease: it died.
		default: // waiting, completing, succeeded, failed, cancelled: done
			return false, nil
		}
		claimed := r.e.claimedRecord(r.env, rec)
		nver, ok, err := st.CompareAndSwap(ctx, key, ver, claimed.encode(), r.e.o.RequestTTL)
		if err != nil {
			return false, fmt.Errorf("claim node %s: %w", inst, err)
		}
		if ok {
			r.take(ctx, inst, claimed, nver)
			return true, nil
		}
	}
}

// handleComplete runs a completion hop: the completion of a conditional or
// foreach node whose branches have all finished, sent by the reconciler
// when nobody completed it.
func (e *Engine) handleComplete(ctx context.Context, k keys, env *Envelope) error {
	b, ver, err := e.loadRecordRaw(ctx, k)
	if errors.Is(err, ErrUnknownRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	rec, known, ok := e.hopRequest(sdk.TxnResult{OK: true, Value: b, Version: ver}, env)
	if !ok || rec.State != StateRunning || env.DefHash != e.hash {
		return nil
	}
	r, err := e.newRun(ctx, k, env, rec.Trace)
	if err != nil {
		return err
	}
	r.known = known
	node, err := r.resolve(env.Cursor)
	if err != nil {
		return err
	}
	if !node.IsDynamic() {
		return fmt.Errorf("%w: %s is not a conditional or foreach node", ErrInvalidCursor, instanceID(env.Cursor))
	}
	r.completions = append(r.completions, completion{cursor: env.Cursor, node: node})
	err = r.runCompletions(ctx)
	r.finishHop(ctx)
	return err
}
