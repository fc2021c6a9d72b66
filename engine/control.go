package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Pause parks every hop of request id that arrives until Resume. Pausing a
// paused request is a no-op; pausing an ended one is ErrWrongState.
func (e *Engine) Pause(ctx context.Context, id string) error {
	if e.o.StateStore == nil {
		return ErrUnknownRequest // a one-node flow keeps no requests
	}
	k := newKeys(e.o.Flow, id)
	rec, _, err := e.updateRecord(ctx, k, 0, func(rec *RequestRecord) bool {
		if rec.State != StateRunning {
			return false
		}
		rec.State = StatePaused
		return true
	})
	if err != nil {
		return err
	}
	if rec.State != StatePaused {
		return fmt.Errorf("%w: request %s is %s", ErrWrongState, id, rec.State)
	}
	return nil
}

// Resume runs a paused request again and releases its parked hops once.
// Resuming a running request is a no-op.
func (e *Engine) Resume(ctx context.Context, id string) error {
	if e.o.StateStore == nil {
		return ErrUnknownRequest // a one-node flow keeps no requests
	}
	k := newKeys(e.o.Flow, id)
	rec, won, err := e.updateRecord(ctx, k, 0, func(rec *RequestRecord) bool {
		if rec.State != StatePaused {
			return false
		}
		rec.State = StateRunning
		return true
	})
	if err != nil {
		return err
	}
	if !won {
		if rec.State == StateRunning {
			return nil
		}
		return fmt.Errorf("%w: request %s is %s", ErrWrongState, id, rec.State)
	}
	parked, err := e.o.StateStore.List(ctx, k.parkedAll())
	if err != nil {
		return fmt.Errorf("list parked hops: %w", err)
	}
	var errs []error
	for _, kv := range parked {
		env, err := e.o.Signer.Open(kv.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		env.IssuedAt = e.o.Now()
		sealed, err := e.o.Signer.Seal(env)
		if err == nil {
			err = e.o.Transport.Send(ctx, id, sealed)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("release parked hop %s: %w: %w", env.HopID, ErrHopNotSent, err))
			continue
		}
		_ = e.o.StateStore.Delete(ctx, kv.Key)
	}
	return errors.Join(errs...)
}

// Stop ends request id: in-flight hops end quietly, parked hops are
// discarded, Finally runs with "stopped", and the request is cleaned up once
// its in-flight work has drained.
func (e *Engine) Stop(ctx context.Context, id string) error {
	if e.o.StateStore == nil {
		return ErrUnknownRequest // a one-node flow keeps no requests
	}
	k := newKeys(e.o.Flow, id)
	now := e.o.Now()
	rec, won, err := e.updateRecord(ctx, k, e.retention(), func(rec *RequestRecord) bool {
		if terminalRequest(rec.State) {
			return false
		}
		rec.State, rec.Ended, rec.Error = StateStopped, &now, "stopped by request"
		return true
	})
	if err != nil {
		return err
	}
	if !won {
		return fmt.Errorf("%w: request %s is %s", ErrWrongState, id, rec.State)
	}
	parked, _ := e.o.StateStore.List(ctx, k.parkedAll())
	for _, kv := range parked {
		if env, err := e.o.Signer.Open(kv.Value); err == nil {
			e.cancelNode(ctx, k, instanceID(env.Cursor))
		}
		_ = e.o.StateStore.Delete(ctx, kv.Key)
	}
	sctx := sdk.NewContext(ctx, e.o.Flow, id, nil, nil)
	sctx.State = "stopped"
	if wf, err := e.flow.build(sctx); err == nil {
		if f := wf.FinallyHandler(); f != nil {
			callFinally(f, "stopped")
		}
	}
	e.ended(ctx, rec, nil, nil)
	e.drain(ctx, k)
	return nil
}

// State returns the record of request id, with live node statuses while it
// runs. An unknown id is ErrUnknownRequest, never "finished".
func (e *Engine) State(ctx context.Context, id string) (*RequestRecord, error) {
	if e.o.StateStore == nil {
		return nil, ErrUnknownRequest
	}
	k := newKeys(e.o.Flow, id)
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil {
		return nil, err
	}
	if !rec.Cleaned {
		nodes, err := e.o.StateStore.List(ctx, k.nodes())
		if err == nil {
			rec.Nodes = make(map[string]NodeStatus, len(nodes))
			for _, kv := range nodes {
				var nr nodeRecord
				if json.Unmarshal(kv.Value, &nr) == nil {
					rec.Nodes[kv.Key[len(k.nodes()):]] = nr.NodeStatus
				}
			}
		}
	}
	rec.Result, rec.ResultRef = nil, ""
	return rec, nil
}

// Result returns the result of an ended request (for a failed request, the
// OnFailure handler's output, if any) and its record.
func (e *Engine) Result(ctx context.Context, id string) ([]byte, *RequestRecord, error) {
	if e.o.StateStore == nil {
		return nil, nil, ErrUnknownRequest
	}
	k := newKeys(e.o.Flow, id)
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	return e.resultOf(ctx, rec)
}

// resultOf returns the result of the request rec records, loading it from
// the DataStore if it was too big to keep inline.
func (e *Engine) resultOf(ctx context.Context, rec *RequestRecord) ([]byte, *RequestRecord, error) {
	id := rec.ID
	if !terminalRequest(rec.State) {
		return nil, rec, fmt.Errorf("%w: request %s is %s", ErrNotFinished, id, rec.State)
	}
	// A failed request is final once its OnFailure output is stored; a
	// finalizing phase older than a minute means that process died.
	if rec.Finalizing && e.o.Now().Sub(rec.Updated) < time.Minute {
		return nil, rec, fmt.Errorf("%w: request %s is storing its OnFailure result", ErrNotFinished, id)
	}
	if rec.ResultRef != "" {
		b, err := e.o.DataStore.Get(ctx, rec.ResultRef)
		if err != nil {
			return nil, rec, fmt.Errorf("load result: %w", err)
		}
		return b, rec, nil
	}
	return rec.Result, rec, nil
}

// Wait blocks until request id ends or ctx is done, then returns like
// Result. Requests ended by this process wake their waiters at once with
// the outcome; others are polled with backoff. A state store that is
// unavailable is polled again too, since the ending hop may still hand its
// outcome over; if it is still unavailable when ctx is done, Wait returns
// that error rather than ctx's.
func (e *Engine) Wait(ctx context.Context, id string) ([]byte, *RequestRecord, error) {
	w := e.await(id)
	defer func() { e.unwait(id, w) }()
	delay := 5 * time.Millisecond
	for {
		res, rec, err := e.Result(ctx, id)
		unavailable := errors.Is(err, sdk.ErrStoreUnavailable)
		if !errors.Is(err, ErrNotFinished) && !unavailable {
			return res, rec, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			if unavailable {
				return nil, rec, err
			}
			return nil, rec, ctx.Err()
		case <-w.done:
			t.Stop()
			if w.rec != nil {
				return w.result, w.rec, nil
			}
			w = e.await(id)
		case <-t.C:
			if delay < 500*time.Millisecond {
				delay *= 2
			}
		}
	}
}

// waiter is one Wait call. wake closes done; when it knows the request's
// final record and result, it sets them first.
type waiter struct {
	done   chan struct{}
	rec    *RequestRecord
	result []byte
}

func (e *Engine) await(id string) *waiter {
	w := &waiter{done: make(chan struct{})}
	e.mu.Lock()
	e.waiters[id] = append(e.waiters[id], w)
	e.mu.Unlock()
	return w
}

func (e *Engine) unwait(id string, w *waiter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	list := e.waiters[id]
	for i, x := range list {
		if x == w {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(e.waiters, id)
	} else {
		e.waiters[id] = list
	}
}

// wake hands the final record rec of a request this process ended, and its
// result, to the request's waiters. A record still finalizing (its
// OnFailure output not yet stored) only wakes them to look again.
func (e *Engine) wake(rec *RequestRecord, result []byte) {
	e.mu.Lock()
	list := e.waiters[rec.ID]
	delete(e.waiters, rec.ID)
	e.mu.Unlock()
	for _, w := range list {
		if terminalRequest(rec.State) && !rec.Finalizing {
			cp := *rec
			w.rec, w.result = &cp, result
		}
		close(w.done)
	}
}
