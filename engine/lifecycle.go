package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// finish ends the request successfully with out as its result. Exactly one
// caller wins the state change and runs Finally and the callback.
func (r *run) finish(ctx context.Context, out []byte) error {
	e := r.e
	var ref string
	if len(out) > e.o.InlineLimit {
		if err := e.o.DataStore.Put(ctx, r.k.result, out); err != nil {
			return fmt.Errorf("store result: %w", err)
		}
		ref = r.k.result
	}
	now := e.o.Now()
	rec, won, err := e.updateRecordFrom(ctx, r.k, r.takeKnown(), e.retention(), func(rec *RequestRecord) bool {
		if terminalRequest(rec.State) {
			return false
		}
		rec.State, rec.Ended = StateSucceeded, &now
		if ref != "" {
			rec.ResultRef = ref
		} else {
			rec.Result = out
		}
		return true
	})
	if err != nil || !won {
		return err
	}
	r.sctx.State = sdk.StateSuccess
	if f := r.wf.FinallyHandler(); f != nil {
		callFinally(f, sdk.StateSuccess)
	}
	e.ended(ctx, rec, out, nil)
	return nil
}

// ended reports a request that reached a terminal state: observer, local
// waiters and the completion callback.
func (e *Engine) ended(ctx context.Context, rec *RequestRecord, result []byte, cause error) {
	e.obs.RequestEnded(ctx, RequestInfo{Flow: rec.Flow, RequestID: rec.ID, Started: rec.Created, Trace: rec.Trace}, rec.State, cause)
	e.wake(rec, result)
	if rec.CallbackURL != "" && e.o.Notifier != nil {
		c := Completion{URL: rec.CallbackURL, Flow: rec.Flow, RequestID: rec.ID, State: rec.State, Result: result, Error: rec.Error}
		if err := e.o.Notifier.Notify(ctx, c); err != nil {
			e.log.Warn("completion callback failed", "request", rec.ID, "err", err)
		}
	}
}

// nodeFailed records a failed node and fails the request.
func (r *run) nodeFailed(ctx context.Context, inst string, rec *nodeRecord, ver int64, cause error) error {
	r.dropUnsent(ctx) // while the claim still holds (see reserve.go)
	now := r.e.o.Now()
	rec.Status, rec.Ended, rec.Error, rec.Hop, rec.LeaseUntil = NodeFailed, &now, cause.Error(), "", time.Time{}
	r.e.failRequest(ctx, r.k, r, cause)
	if _, err := r.setNode(ctx, inst, rec, ver); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// failRequest moves the request to failed once; the winner runs the
// OnFailure and Finally handlers (when r, with its built workflow, is given)
// and the callback.
func (e *Engine) failRequest(ctx context.Context, k keys, r *run, cause error) {
	now := e.o.Now()
	var known *storedRecord
	if r != nil {
		known = r.takeKnown()
	}
	rec, won, err := e.updateRecordFrom(ctx, k, known, e.retention(), func(rec *RequestRecord) bool {
		if terminalRequest(rec.State) {
			return false
		}
		rec.State, rec.Ended, rec.Error = StateFailed, &now, cause.Error()
		rec.Finalizing = r != nil && r.wf.FailureHandler() != nil
		return true
	})
	if err != nil {
		e.log.Error("cannot record request failure", "err", err, "cause", cause)
		return
	}
	if !won {
		return
	}
	var result []byte
	if r != nil {
		r.sctx.State = sdk.StateFailure
		if h := r.wf.FailureHandler(); h != nil {
			out, herr := callFailureHandler(h, cause)
			if herr != nil {
				e.log.Warn("OnFailure handler failed", "request", rec.ID, "err", herr)
			}
			result = out
			var ref string
			if len(out) > e.o.InlineLimit {
				if perr := e.o.DataStore.Put(ctx, k.result, out); perr == nil {
					ref = k.result
				}
			}
			// Store the handler's output and end the finalizing phase in one
			// update, so that Result never sees the failure without it.
			if updated, _, uerr := e.updateRecord(ctx, k, e.retention(), func(rec *RequestRecord) bool {
				if ref != "" {
					rec.ResultRef = ref
				} else {
					rec.Result = out
				}
				rec.Finalizing = false
				return true
			}); uerr == nil {
				rec = updated
			}
		}
		if f := r.wf.FinallyHandler(); f != nil {
			callFinally(f, sdk.StateFailure)
		}
	}
	e.ended(ctx, rec, result, cause)
}

// cancelNode marks a pending node record cancelled (its hop arrived after the
// request ended, or was parked and the request stopped).
func (e *Engine) cancelNode(ctx context.Context, k keys, inst string) {
	st := e.o.StateStore
	for i := 0; i < 8; i++ {
		b, ver, err := st.Get(ctx, k.node(inst))
		if err != nil {
			return
		}
		var rec nodeRecord
		if json.Unmarshal(b, &rec) != nil || rec.Status != NodePending {
			return
		}
		rec.Status = NodeCancelled
		nb, _ := json.Marshal(&rec)
		if _, ok, err := st.CompareAndSwap(ctx, k.node(inst), ver, nb, e.o.RequestTTL); ok || err != nil {
			return
		}
	}
}

// finishHop runs at the end of every hop: if the request has ended, the
// last hop to drain cleans it up.
func (r *run) finishHop(ctx context.Context) {
	if r.runningAfter {
		// The node's final write saw the request still going: whoever ends
		// it later will find this node done.
		return
	}
	r.e.drain(ctx, r.k)
}

// drain cleans up an ended request once no node is pending or running. The
// node statuses are folded into the request record, which is kept for the
// retention period; every other key of the request is deleted.
func (e *Engine) drain(ctx context.Context, k keys) {
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil || !terminalRequest(rec.State) || rec.Cleaned {
		return
	}
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return
	}
	summary := make(map[string]NodeStatus, len(nodes))
	for _, kv := range nodes {
		var nr nodeRecord
		if json.Unmarshal(kv.Value, &nr) != nil {
			continue
		}
		if nodeInFlight(nr.Status) {
			return
		}
		summary[kv.Key[len(k.nodes()):]] = nr.NodeStatus
	}
	_, won, err := e.updateRecord(ctx, k, e.retention(), func(rec *RequestRecord) bool {
		if rec.Cleaned {
			return false
		}
		rec.Cleaned, rec.Nodes = true, summary
		return true
	})
	if err != nil || !won {
		return
	}
	if err := e.o.StateStore.DeletePrefix(ctx, k.work); err != nil {
		e.log.Warn("cleanup of state failed", "prefix", k.work, "err", err)
	}
	if err := e.o.DataStore.DeletePrefix(ctx, k.work); err != nil {
		e.log.Warn("cleanup of data failed", "prefix", k.work, "err", err)
	}
	if e.o.Retention < 0 {
		_ = e.o.StateStore.Delete(ctx, k.record)
		_ = e.o.DataStore.Delete(ctx, k.result)
	}
}

// park keeps a hop of a paused request until Resume releases it.
func (e *Engine) park(ctx context.Context, k keys, env *Envelope, raw []byte) error {
	if raw == nil {
		var err error
		if raw, err = e.o.Signer.Seal(env); err != nil {
			return err
		}
	}
	if _, _, err := e.o.StateStore.Create(ctx, k.parked(env.HopID), raw, e.o.RequestTTL); err != nil {
		return fmt.Errorf("park hop: %w", err)
	}
	// Resume may have listed the parked hops before this one was stored:
	// look again, and take the hop back if the request runs again.
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil || rec.State != StateRunning {
		return err
	}
	if _, _, err := e.o.StateStore.Get(ctx, k.parked(env.HopID)); err != nil {
		return nil // Resume released it
	}
	_ = e.o.StateStore.Delete(ctx, k.parked(env.HopID))
	return e.handle(ctx, env, raw)
}
