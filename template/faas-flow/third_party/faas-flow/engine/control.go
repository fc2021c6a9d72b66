package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// recordKeys returns the keys of request id, whose record rec (at version
// ver) tells the incarnation.
func (e *Engine) recordKeys(ctx context.Context, id string) (keys, *RequestRecord, error) {
	if e.o.StateStore == nil {
		return keys{}, nil, ErrUnknownRequest // a one-node flow keeps no requests
	}
	rec, _, err := e.loadRecord(ctx, newKeys(e.o.Flow, id, ""))
	if err != nil {
		return keys{}, nil, err
	}
	return newKeys(e.o.Flow, id, rec.Incarnation), rec, nil
}

// Pause holds request id: the hops that arrive leave their nodes pending,
// with their hops, until Resume. Nodes already running finish. Pausing a
// paused request is a no-op; pausing an ended one is ErrWrongState.
func (e *Engine) Pause(ctx context.Context, id string) error {
	k, _, err := e.recordKeys(ctx, id)
	if err != nil {
		return err
	}
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

// Resume runs a paused request again and sends the hop of every node left
// pending. Resuming a running request sends them again (a resume whose
// sends failed is repeated that way; the receivers deduplicate).
func (e *Engine) Resume(ctx context.Context, id string) error {
	k, _, err := e.recordKeys(ctx, id)
	if err != nil {
		return err
	}
	rec, _, err := e.updateRecord(ctx, k, 0, func(rec *RequestRecord) bool {
		if rec.State != StatePaused {
			return false
		}
		rec.State = StateRunning
		return true
	})
	if err != nil {
		return err
	}
	if rec.State != StateRunning {
		return fmt.Errorf("%w: request %s is %s", ErrWrongState, id, rec.State)
	}
	return e.resendPending(ctx, k)
}

// resendPending sends the hop of every pending node of the request again,
// marking each record sent first so the reconciler does not follow at once.
func (e *Engine) resendPending(ctx context.Context, k keys) error {
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	var errs []error
	for _, kv := range nodes {
		rec, err := decodeNode(kv.Key, kv.Value)
		if err != nil || rec.Status != NodePending {
			continue
		}
		if rec.Send == nil {
			// Reserved: its hop, once its parent sent it, is in the outbox.
			if rec.Send, err = e.outboxHop(ctx, k, kv.Key[len(k.nodes()):]); err != nil || rec.Send == nil {
				errs = append(errs, err)
				continue
			}
		}
		rec.Sent = e.o.Now()
		ver, ok, err := e.o.StateStore.CompareAndSwap(ctx, kv.Key, kv.Version, rec.encode(), e.o.RequestTTL)
		if err != nil || !ok {
			errs = append(errs, err)
			continue // claimed meanwhile, or the store failed
		}
		env := *rec.Send
		env.NodeVersion = ver
		sealed, err := e.o.Signer.Seal(withIssued(&env, e.o.Now()))
		if err == nil {
			err = e.o.Transport.Send(ctx, env.RequestID, sealed)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("send hop of %s: %w: %w", instanceID(env.Cursor), ErrHopNotSent, err))
		}
	}
	return errors.Join(errs...)
}

// withIssued returns env dated at.
func withIssued(env *Envelope, at time.Time) *Envelope {
	env.IssuedAt = at
	return env
}

// Stop ends request id: nodes not started are cancelled, running nodes end
// quietly, Finally runs with "stopped", and the request is cleaned up once
// its in-flight work has drained.
func (e *Engine) Stop(ctx context.Context, id string) error {
	k, _, err := e.recordKeys(ctx, id)
	if err != nil {
		return err
	}
	now := e.o.Now()
	rec, won, err := e.updateRecord(ctx, k, e.retentionOf(StateStopped), func(rec *RequestRecord) bool {
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
	if nodes, err := e.o.StateStore.List(ctx, k.nodes()); err == nil {
		for _, kv := range nodes {
			e.cancelNode(ctx, k, kv.Key[len(k.nodes()):])
		}
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
	k, rec, err := e.recordKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	if !rec.Cleaned {
		rec = e.withNodes(ctx, k, rec)
	}
	rec.Result, rec.ResultRef = nil, ""
	rec.withEarlier()
	return rec, nil
}

// withNodes fills in the statuses of the nodes of request rec, which has
// not been cleaned up, from their records. An ended request may be cleaned
// up between the reads of its record and of its nodes; then its record,
// read again, has them.
func (e *Engine) withNodes(ctx context.Context, k keys, rec *RequestRecord) *RequestRecord {
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return rec
	}
	if terminalRequest(rec.State) {
		if again, _, err := e.loadRecord(ctx, k); err == nil && again.Cleaned {
			return again
		}
	}
	rec.Nodes = make(map[string]NodeStatus, len(nodes))
	for _, kv := range nodes {
		if nr, err := decodeNode(kv.Key, kv.Value); err == nil {
			rec.Nodes[kv.Key[len(k.nodes()):]] = nr.NodeStatus
		}
	}
	return rec
}

// Result returns the result of an ended request (for a failed request, the
// OnFailure handler's output, if any) and its record.
func (e *Engine) Result(ctx context.Context, id string) ([]byte, *RequestRecord, error) {
	if e.o.StateStore == nil {
		return nil, nil, ErrUnknownRequest
	}
	k := newKeys(e.o.Flow, id, "")
	rec, _, err := e.loadRecord(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	if rec, err = e.awaitFailureOutput(ctx, k, rec); err != nil {
		return nil, nil, err
	}
	rec.withEarlier()
	return e.resultOf(ctx, rec)
}

// finalizeWait bounds how long Result waits for a failed request's
// OnFailure output to be stored: the process that ended the request
// stores it right after the end, so a caller that learnt of the failure
// (a ?wait, a callback) and asks for the result at once need not be told
// to come back.
const finalizeWait = 5 * time.Second

// awaitFailureOutput reloads rec, a failed request whose handlers are
// still being recorded, until they are or finalizeWait has passed.
func (e *Engine) awaitFailureOutput(ctx context.Context, k keys, rec *RequestRecord) (*RequestRecord, error) {
	deadline := time.Now().Add(finalizeWait)
	for rec.Finalizing && rec.State == StateFailed && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return rec, nil
		case <-time.After(20 * time.Millisecond):
		}
		again, _, err := e.loadRecord(ctx, k)
		if err != nil {
			return nil, err
		}
		rec = again
	}
	return rec, nil
}

// resultOf returns the result of the request rec records, loading it from
// the DataStore if it was too big to keep inline.
func (e *Engine) resultOf(ctx context.Context, rec *RequestRecord) ([]byte, *RequestRecord, error) {
	id := rec.ID
	if !terminalRequest(rec.State) {
		return nil, rec, fmt.Errorf("%w: request %s is %s", ErrNotFinished, id, rec.State)
	}
	// A failed request is final once its OnFailure output is stored. The
	// reconciler runs the handlers of a request whose ending process died
	// first; should none run, the failure is reported without the output
	// after a while.
	if rec.Finalizing && rec.State == StateFailed && e.o.Now().Sub(rec.Updated) < 2*e.o.StallAfter+e.o.ReconcileInterval {
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
// the outcome. For the others, the request's record is read again with
// backoff (see firstRecheck); once the interval reaches 40 ms, a
// StateStore that is an sdk.Watcher watches it instead, and it is read
// again when it changes. A state store
// that is unavailable is read again too, since the ending hop may still
// hand its outcome over; if it is still unavailable when ctx is done, Wait
// returns that error rather than ctx's.
func (e *Engine) Wait(ctx context.Context, id string) ([]byte, *RequestRecord, error) {
	w := e.await(id)
	handedOver := false // to classifyEnd, which unregisters w
	defer func() {
		if !handedOver {
			e.unwait(id, w)
		}
	}()
	delay := e.firstRecheck()
	first := true
	idle := 0     // wakes by the watch that found the request still running
	woke := false // the last wake was the watch's: read before watching again
	for {
		wctx, release := context.WithCancel(ctx)
		var changed <-chan struct{}
		// Not at once: most requests a caller waits for end within a few
		// reads, in this process, which wakes the caller itself; a watch
		// set up meanwhile would cost the request its round trips.
		if delay >= watchAfter && idle < maxIdleWakes && !woke {
			changed = e.watchRecord(wctx, id)
		}
		woke = false
		res, rec, err := e.Result(ctx, id)
		unavailable := errors.Is(err, sdk.ErrStoreUnavailable)
		if !errors.Is(err, ErrNotFinished) && !unavailable {
			release()
			if !first && err == nil {
				handedOver = true
				go e.classifyEnd(id, w)
			}
			return res, rec, err
		}
		first = false
		wait := delay
		if changed != nil {
			wait = watchedRecheck
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			release()
			if unavailable {
				return nil, rec, err
			}
			return nil, rec, ctx.Err()
		case <-w.done:
			if w.rec != nil {
				t.Stop()
				release()
				e.endedHere()
				return w.result, w.rec, nil
			}
			w = e.await(id)
		case <-changed:
			// The end of a request run here wakes the watch and w.done
			// together: take the result it brought instead of reading it.
			if rec, res, ok := w.ended(); ok {
				t.Stop()
				release()
				e.endedHere()
				return res, rec, nil
			}
			idle++
			woke = true
		case <-t.C:
			if delay < 500*time.Millisecond {
				delay *= 2
			}
		}
		t.Stop()
		release()
	}
}

// firstRecheck is how long Wait waits before it reads a running request's
// record a second time. A request that ends in this process wakes its
// waiters itself; the reads are for those that end in another replica,
// which answer the caller as soon as a read finds them ended. While the
// last endsElsewhereMemory waits all ended here (one replica, or a flow
// whose requests end where they start) Wait reads at 0 and 20 ms and
// watches from then on, rather than at 0, 5, 15 and 35 ms and watching
// from 40: two reads of the StateStore fewer per request.
func (e *Engine) firstRecheck() time.Duration {
	if e.endsElsewhere.Load() > 0 {
		return 5 * time.Millisecond
	}
	return watchAfter / 2
}

// classifyEnd tells whether the end of request id that a Wait found in
// the StateStore was this process's own, which wakes w a moment after it
// wrote the end (a read, or the watch, may see the write first), and then
// unregisters w.
func (e *Engine) classifyEnd(id string, w *waiter) {
	defer e.unwait(id, w)
	t := time.NewTimer(endWakeGrace)
	defer t.Stop()
	select {
	case <-w.done:
		e.endedHere()
	case <-t.C:
		e.endsElsewhere.Store(endsElsewhereMemory)
	}
}

// endWakeGrace is how long after a Wait found its request ended in the
// StateStore a wake from this process still counts the end as its own.
const endWakeGrace = time.Second

// endedHere notes a Wait that this process's own wake ended.
func (e *Engine) endedHere() {
	if n := e.endsElsewhere.Load(); n > 0 {
		e.endsElsewhere.CompareAndSwap(n, n-1)
	}
}

// endsElsewhereMemory is how many Wait calls read early after one found
// its request ended elsewhere (and after the engine starts).
const endsElsewhereMemory = 16

// watchAfter is the read interval from which Wait watches the request's
// record: after its reads at 0, 5, 15 and 35 ms.
const watchAfter = 40 * time.Millisecond

// maxIdleWakes is how many times a watch may wake Wait without the request
// having ended before Wait reads the record with backoff instead: a watch
// that keeps failing at once must not make it spin.
const maxIdleWakes = 8

// watchedRecheck is how often Wait reads a watched request record anyway,
// in case a watch missed a change.
const watchedRecheck = 2 * time.Second

// watchRecord watches the record of request id when the StateStore can,
// and returns nil when it cannot (no sdk.Watcher, or the watch failed):
// Wait reads the record again with backoff then.
func (e *Engine) watchRecord(ctx context.Context, id string) <-chan struct{} {
	wt, ok := e.o.StateStore.(sdk.Watcher)
	if !ok {
		return nil
	}
	ch, err := wt.Watch(ctx, newKeys(e.o.Flow, id, "").record)
	if err != nil {
		return nil
	}
	return ch
}

// waiter is one Wait call. wake closes done; when it knows the request's
// final record and result, it sets them first.
type waiter struct {
	done   chan struct{}
	rec    *RequestRecord
	result []byte
}

// ended returns the final record and result when wake has already brought
// them.
func (w *waiter) ended() (*RequestRecord, []byte, bool) {
	select {
	case <-w.done:
		return w.rec, w.result, w.rec != nil
	default:
		return nil, nil, false
	}
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
