package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// finish stages the successful end of the request with out as its result:
// the delivery's last write ends the request together with its node's
// final status, so that exactly one delivery ends it and no node is still
// running in the record of a request that has succeeded.
func (r *run) finish(ctx context.Context, out []byte) error {
	end := &requestEnd{state: StateSucceeded, result: out}
	if len(out) > r.e.o.InlineLimit {
		if err := r.e.o.DataStore.Put(ctx, r.k.result, out); err != nil {
			return fmt.Errorf("store result: %w", err)
		}
		end.ref = r.k.result
	} else {
		end.out = out
	}
	r.out.end = end
	return nil
}

// nodeFailed fails the node the run holds and, with it in the same write,
// the request: any hops staged are dropped.
func (r *run) nodeFailed(ctx context.Context, cause error, also ...func(*nodeRecord)) error {
	if dyn, cursor, key, branches := r.tolerantBranch(); dyn != nil {
		return r.branchFault(ctx, dyn, cursor, key, branches, cause)
	}
	r.dropReservations(ctx) // while the claim still holds
	r.out = outbox{end: &requestEnd{state: StateFailed, cause: cause}}
	r.early = nil
	err := r.commit(ctx, func(n *nodeRecord) {
		n.ended(NodeFailed, r.endTime)
		n.Error, n.Attempts = cause.Error(), max(n.Attempts, r.attempts)
		for _, f := range also {
			f(n)
		}
	})
	if err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// ended runs what follows the end this run wrote (see finalize).
func (r *run) ended(ctx context.Context) {
	known := &storedRecord{version: r.endVersion}
	known.value, _ = json.Marshal(r.endRecord)
	r.e.finalize(ctx, r.k, r.wf, r.endRecord, r.out.end.result, r.out.end.cause, known)
	r.finalized = true
}

// finalize follows the end of request rec (result: its result, when it
// succeeded): it runs the handlers, OnFailure for a failed request (its
// output becomes the request's result) and Finally; reports the end to the
// observer, local waiters and the completion callback; then clears the
// record's finalizing phase, storing OnFailure's output in the same update
// (so that Result never sees the failure without it) and draining the
// request if nothing is in flight. The process that ends a request does
// this; the reconciler does, for a request whose ending process died first
// (the callback may then go out twice: receivers tell ends apart by
// request id). known is the record as just written (nil: read it).
func (e *Engine) finalize(ctx context.Context, k keys, wf *sdk.Workflow, rec *RequestRecord, result []byte, cause error, known *storedRecord) {
	state := sdk.StateSuccess
	var out []byte
	var ref string
	ran := false
	if rec.State == StateFailed {
		state = sdk.StateFailure
		if h := wf.FailureHandler(); h != nil {
			if cause == nil {
				cause = errors.New(rec.Error)
			}
			var herr error
			if out, herr = callFailureHandler(h, cause); herr != nil {
				e.log.Warn("OnFailure handler failed", "request", rec.ID, "err", herr)
			}
			ran, result = true, out
			if len(out) > e.o.InlineLimit {
				if perr := e.o.DataStore.Put(ctx, k.result, out); perr == nil {
					ref = k.result
				}
			}
		}
	}
	if f := wf.FinallyHandler(); f != nil {
		callFinally(f, state)
	}
	fin := func(r *RequestRecord) {
		if ran && ref != "" {
			r.ResultRef = ref
		} else if ran {
			r.Result = out
		}
		r.Finalizing = false
	}
	final := *rec
	fin(&final)
	e.ended(ctx, &final, result, cause)
	e.settle(ctx, k, known, fin)
}

// failRequest moves the request to failed once, outside a node (a hop of
// a redeployed definition, a Define that fails), and reports the end.
func (e *Engine) failRequest(ctx context.Context, k keys, cause error) {
	now := e.o.Now()
	rec, won, err := e.updateRecord(ctx, k, e.retentionOf(StateFailed), func(rec *RequestRecord) bool {
		if terminalRequest(rec.State) {
			return false
		}
		rec.State, rec.Ended, rec.Error = StateFailed, &now, cause.Error()
		return true
	})
	if err != nil {
		e.log.Error("cannot record request failure", "err", err, "cause", cause)
		return
	}
	if won {
		e.ended(ctx, rec, nil, cause)
	}
}

// ended reports a request that reached a terminal state: observer, local
// waiters and the completion callback.
func (e *Engine) ended(ctx context.Context, rec *RequestRecord, result []byte, cause error) {
	e.obs.RequestEnded(ctx, RequestInfo{Flow: rec.Flow, RequestID: rec.ID, Started: rec.Created, Trace: rec.Trace}, rec.State, cause)
	e.wake(rec, result)
	c := Completion{URL: rec.CallbackURL, Flow: rec.Flow, RequestID: rec.ID, State: rec.State, Result: result, Error: rec.Error, Started: rec.Created}
	if rec.Ended != nil {
		c.Ended = *rec.Ended
	}
	e.notify(ctx, c)
}

// notify hands the end c to Options.Events and, when the request has a
// callback URL, to the Notifier.
func (e *Engine) notify(ctx context.Context, c Completion) {
	if e.o.Events != nil {
		if err := e.o.Events.Notify(ctx, c); err != nil {
			e.log.Warn("completion event failed", "request", c.RequestID, "err", err)
		}
	}
	if c.URL != "" && e.o.Notifier != nil {
		if err := e.o.Notifier.Notify(ctx, c); err != nil {
			e.log.Warn("completion callback failed", "request", c.RequestID, "err", err)
		}
	}
}

// cancelNode marks the record of node inst cancelled when nobody will run
// it: pending, or running under a lease that has run out (its delivery
// died), in a request that has ended.
func (e *Engine) cancelNode(ctx context.Context, k keys, inst string) {
	st := e.o.StateStore
	for i := 0; i < 8; i++ {
		b, ver, err := st.Get(ctx, k.node(inst))
		if err != nil {
			return
		}
		rec, err := decodeNode(inst, b)
		if err != nil || !abandoned(rec, e.o.Now()) {
			return
		}
		rec.ended(NodeCancelled, e.o.Now())
		if _, ok, err := st.CompareAndSwap(ctx, k.node(inst), ver, rec.encode(), e.o.RequestTTL); ok || err != nil {
			return
		}
	}
}

// abandoned reports a node record nobody is working on any more.
func abandoned(rec *nodeRecord, now time.Time) bool {
	switch rec.Status {
	case NodePending:
		return true
	case NodeRunning, NodeCompleting:
		return !now.Before(rec.LeaseUntil)
	}
	return false
}

// finishHop runs at the end of every hop: the dynamic nodes whose last
// branch it finished are completed, then, if the request has ended, the
// last hop to drain cleans it up.
func (r *run) finishHop(ctx context.Context) {
	if r.runningAfter && len(r.completions) > 0 {
		if err := r.runCompletions(ctx); err != nil {
			r.e.log.Warn("completing a conditional or foreach node failed; the reconciler will try again", "request", r.reqID, "err", err)
		}
	}
	if r.runningAfter || r.finalized {
		// The last write saw the request still going (whoever ends it later
		// will find this node done), or this run ended it and has drained
		// it as far as it could.
		return
	}
	r.e.drain(ctx, r.k)
}

// drain cleans up an ended request once no node is in flight and its
// handlers have run: the node statuses are folded into the request record,
// which is kept for the retention period; every other key of the request
// is deleted, and the request leaves the reconciler's index.
func (e *Engine) drain(ctx context.Context, k keys) { e.settle(ctx, k, nil, nil) }

// settle is drain, and, when fin is set, the end of the request's
// finalizing phase too (fin adds the handlers' output), in one update of
// the record, starting from known when the caller has just written it. It
// returns the record as updated (nil: not updated).
func (e *Engine) settle(ctx context.Context, k keys, known *storedRecord, fin func(*RequestRecord)) *RequestRecord {
	if known == nil {
		b, ver, err := e.loadRecordRaw(ctx, k)
		if err != nil {
			return nil
		}
		known = &storedRecord{value: b, version: ver}
	}
	rec, err := decodeRecord(known.value)
	if err != nil || !terminalRequest(rec.State) || rec.Cleaned && fin == nil {
		return nil
	}
	summary, idle := e.nodeSummary(ctx, k)
	cleaned, recheck := false, false
	updated, won, err := e.updateRecordFrom(ctx, k, known, e.retentionOf(rec.State), func(r *RequestRecord) bool {
		changed := false
		recheck = false
		if fin != nil && r.Finalizing {
			fin(r)
			// A node's drain found everything done while the handlers
			// ran (see below): look again once they are recorded.
			recheck, r.DrainWanted, changed = r.DrainWanted, false, true
		}
		cleaned = idle && !r.Cleaned && !r.Finalizing
		switch {
		case cleaned:
			r.Cleaned, r.Nodes, r.DrainWanted, changed = true, summary, false, true
		case fin == nil && idle && r.Finalizing && !r.DrainWanted:
			// Only the handlers are left: tell whoever records them to
			// drain the request (this write makes its update conflict,
			// so it reads it).
			r.DrainWanted, changed = true, true
		}
		return changed
	})
	if err != nil {
		if fin != nil {
			e.log.Warn("recording that the request's handlers ran failed; the reconciler will run them again", "request", rec.ID, "err", err)
		}
		return nil
	}
	if !won {
		return nil
	}
	switch {
	case cleaned:
		e.cleanup(ctx, k, updated)
	case recheck:
		e.drain(ctx, k)
	}
	return updated
}

// nodeSummary returns the statuses of the request's nodes, and whether
// none of them is in flight (false also when they cannot be read).
func (e *Engine) nodeSummary(ctx context.Context, k keys) (map[string]NodeStatus, bool) {
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return nil, false
	}
	summary := make(map[string]NodeStatus, len(nodes))
	idle := true
	for _, kv := range nodes {
		nr, err := decodeNode(kv.Key, kv.Value)
		if err != nil {
			continue
		}
		if nodeInFlight(nr.Status) {
			idle = false
		}
		summary[kv.Key[len(k.nodes()):]] = nr.NodeStatus
	}
	return summary, idle
}

// cleanup deletes the working state and data of a drained request (rec:
// its record; nil when it has none), and then its entry in the
// reconciler's index: a cleanup cut short leaves the entry, and the
// reconciler cleans up again. A request that can be redriven keeps its
// working state and record; its keys expire with their TTL, its data with
// the DataStore's expiry. The request's entry in the listing index goes
// with a record deleted at once, or else gets the record's retention.
func (e *Engine) cleanup(ctx context.Context, k keys, rec *RequestRecord) {
	state := ""
	if rec != nil {
		state = rec.State
	}
	var errs []error
	if !e.redrivable(state) {
		if err := e.o.StateStore.DeletePrefix(ctx, k.work); err != nil {
			errs = append(errs, fmt.Errorf("state: %w", err))
		}
		if err := e.o.DataStore.DeletePrefix(ctx, k.work); err != nil {
			errs = append(errs, fmt.Errorf("data: %w", err))
		}
	}
	if e.o.Retention < 0 && !e.redrivable(state) {
		if err := e.o.DataStore.Delete(ctx, k.result); err != nil {
			errs = append(errs, fmt.Errorf("result: %w", err))
		}
		if err := e.o.StateStore.Delete(ctx, k.record); err != nil {
			errs = append(errs, fmt.Errorf("record: %w", err))
		}
		if rec != nil {
			if err := e.o.StateStore.Delete(ctx, listedKey(e.o.Flow, rec.ID, rec.Created)); err != nil {
				errs = append(errs, fmt.Errorf("listing entry: %w", err))
			}
		}
	} else if rec != nil {
		if err := e.relist(ctx, rec, e.retentionOf(state)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		e.log.Warn("cleanup of an ended request failed; the reconciler will try again", "prefix", k.work, "err", errors.Join(errs...))
		return
	}
	if err := e.o.StateStore.Delete(ctx, k.active); err != nil {
		e.log.Warn("removing a request from the reconciler's index failed", "key", k.active, "err", err)
	}
}
