package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// The reconciler finishes what the queue did not. Every hop a delivery
// starts is first written into the record of its node (see outbox.go), and
// every node a delivery works on is held under a lease its heartbeat
// renews. A pass of the reconciler looks at each unfinished request old
// enough to have stalled (the index under a/<flow>/, so a pass costs what
// the running requests cost, never what history holds) and sends again:
//
//   - the hop of a node still pending StallAfter after it was sent (then
//     after twice as long, and so on), whose hop a queue lost or gave up on;
//   - the hop of a node running under a lease that has run out: its
//     delivery died, and the hop's receiver takes the node over;
//   - the completion hop of a conditional or foreach node whose completer
//     died, or whose branches all finished without anybody completing it.
//
// A hop sent again keeps its identity: its receiver's claim makes any
// other copy of it harmless. The requests of a pass that have ended are
// drained; those that are paused are left alone.

// ReconcileReport counts what one pass of the reconciler did.
type ReconcileReport struct {
	Requests    int // unfinished requests looked at
	Redelivered int // hops sent again
	Drained     int // ended requests cleaned up
}

// Reconcile makes one pass over the flow's unfinished requests. A flow of
// one node keeps no requests and has nothing to reconcile.
func (e *Engine) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	if e.flow.sync {
		return rep, nil
	}
	prefix := activePrefix(e.o.Flow)
	entries, err := e.o.StateStore.List(ctx, prefix)
	if err != nil {
		return rep, fmt.Errorf("list unfinished requests: %w", err)
	}
	now := e.o.Now()
	var errs []error
	for _, kv := range entries {
		req, inc, ok := parseActive(kv.Key[len(prefix):])
		since, terr := time.Parse(time.RFC3339Nano, string(kv.Value))
		if !ok || terr != nil {
			continue
		}
		if now.Sub(since) < e.o.StallAfter {
			continue // too young to have stalled
		}
		rep.Requests++
		if err := e.reconcileRequest(ctx, newKeys(e.o.Flow, req, inc), &rep); err != nil {
			errs = append(errs, fmt.Errorf("request %s: %w", req, err))
		}
	}
	return rep, errors.Join(errs...)
}

// parseActive splits an index key ("<req>/<inc>", escaped) into its parts.
func parseActive(s string) (req, inc string, ok bool) {
	r, i, found := strings.Cut(s, "/")
	if !found {
		return "", "", false
	}
	req, err1 := url.PathUnescape(r)
	inc, err2 := url.PathUnescape(i)
	return req, inc, err1 == nil && err2 == nil
}

// stalled is a node whose hop the reconciler sends again.
type stalled struct {
	inst    string
	kv      sdk.KV
	rec     *nodeRecord
	send    *Envelope // the hop to send again
	reason  string
	restart bool // the receiver claims it on the version the hop carries
}

// reconcileRequest looks at one unfinished request.
func (e *Engine) reconcileRequest(ctx context.Context, k keys, rep *ReconcileReport) error {
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	found, live, err := e.findStalled(ctx, k, nodes)
	if err != nil {
		return err
	}
	if len(found) == 0 && live {
		return nil // work goes on
	}
	rec, _, err := e.loadRecord(ctx, k)
	switch {
	case errors.Is(err, ErrUnknownRequest) || err == nil && rec.Incarnation != inc(k):
		// The record is gone, or belongs to another use of the id: this
		// entry, and whatever its incarnation left, is left over.
		e.cleanup(ctx, k, nil)
		return nil
	case err != nil:
		return err
	case rec.State == StatePaused:
		return nil
	case terminalRequest(rec.State):
		for _, kv := range nodes {
			e.cancelNode(ctx, k, kv.Key[len(k.nodes()):])
		}
		if rec.Finalizing && e.o.Now().Sub(rec.Updated) >= e.o.StallAfter {
			e.finalizeLate(ctx, k, rec)
		}
		if rec.Cleaned {
			e.cleanup(ctx, k, rec) // a cleanup cut short
		} else {
			e.drain(ctx, k)
		}
		rep.Drained++
		return nil
	}
	if len(found) == 0 {
		return nil // what is in flight is alive, or waits for a node that is
	}
	for _, s := range found {
		if err := e.redeliver(ctx, k, rec, s); err != nil {
			return err
		}
		rep.Redelivered++
	}
	return nil
}

// finalizeLate runs the handlers of an ended request whose ending process
// died before it ran them.
func (e *Engine) finalizeLate(ctx context.Context, k keys, rec *RequestRecord) {
	query, _ := url.ParseQuery(rec.Query)
	sctx := sdk.NewContext(ctx, e.o.Flow, rec.ID, query, prefixedValues{ds: e.o.DataStore, prefix: k.work})
	sctx.State = sdk.StateSuccess
	if rec.State == StateFailed {
		sctx.State = sdk.StateFailure
	}
	wf, err := e.flow.build(sctx)
	if err != nil {
		e.log.Warn("cannot build the flow to run an ended request's handlers", "request", rec.ID, "err", err)
		return
	}
	e.log.Info("running the handlers of a request whose ending process died", "request", rec.ID, "state", rec.State)
	result := rec.Result
	if rec.State == StateSucceeded && rec.ResultRef != "" {
		result, _ = e.o.DataStore.Get(ctx, rec.ResultRef)
	}
	e.finalize(ctx, k, wf, rec, result, nil, nil)
}

// outboxHop returns the hop of reserved node inst that its parent sent
// before its last write, from the outbox (nil: not sent yet).
func (e *Engine) outboxHop(ctx context.Context, k keys, inst string) (*Envelope, error) {
	b, _, err := e.o.StateStore.Get(ctx, k.outbox(inst))
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the outbox of %s: %w", inst, err)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("corrupt outbox entry of %s: %w", inst, err)
	}
	return &env, nil
}

// inc is the incarnation of the work prefix of k.
func inc(k keys) string {
	parts := strings.Split(strings.TrimSuffix(k.work, "/"), "/")
	v, _ := url.PathUnescape(parts[len(parts)-1])
	return v
}

// findStalled returns the nodes of the request whose hop is due again, and
// whether all of its other nodes in flight are alive: pending, or held
// under a lease that still runs.
func (e *Engine) findStalled(ctx context.Context, k keys, nodes []sdk.KV) ([]stalled, bool, error) {
	now := e.o.Now()
	var found []stalled
	inFlight, dead := 0, 0
	for _, kv := range nodes {
		inst := kv.Key[len(k.nodes()):]
		rec, err := decodeNode(inst, kv.Value)
		if err != nil {
			continue
		}
		if nodeInFlight(rec.Status) {
			inFlight++
			if rec.Status != NodePending && !now.Before(rec.LeaseUntil) {
				dead++
			}
		}
		if rec.Status == NodePending && rec.Send == nil && now.Sub(rec.Touched) >= e.o.StallAfter {
			// A record reserved long ago whose hop may never be sent (its
			// parent may have died or been cancelled): the request's state
			// decides.
			dead++
		}
		s := stalled{inst: inst, kv: kv, rec: rec, send: rec.Send}
		switch rec.Status {
		case NodePending:
			sent := rec.Sent
			if s.send == nil {
				// Reserved: its hop, once its parent sent it, is in the outbox.
				env, err := e.outboxHop(ctx, k, inst)
				if err != nil {
					return nil, false, err
				}
				if s.send = env; env != nil && env.IssuedAt.After(sent) {
					sent = env.IssuedAt
				}
			}
			wait := e.o.StallAfter << min(rec.Redelivered, 5)
			if s.send != nil && now.Sub(sent) >= wait {
				s.reason, s.restart = "unclaimed", true
			}
		case NodeRunning:
			if !now.Before(rec.LeaseUntil) {
				if s.send == nil {
					// The hop that started it is in the outbox.
					if s.send, err = e.outboxHop(ctx, k, inst); err != nil {
						return nil, false, err
					}
				}
				if s.send != nil {
					s.reason, s.restart = "lease expired", true
				}
			}
		case NodeCompleting:
			if rec.Send != nil && !now.Before(rec.LeaseUntil) {
				s.reason = "completion lease expired"
			}
		case NodeWaiting:
			if now.Sub(rec.Touched) >= e.o.StallAfter {
				done, err := e.count(ctx, k.branches(inst))
				if err != nil {
					return nil, false, err
				}
				if done >= len(rec.Options) {
					s.reason = "branches finished"
				}
			}
		}
		if s.reason != "" {
			found = append(found, s)
		}
	}
	return found, inFlight > 0 && dead == 0, nil
}

// redeliver sends the hop of stalled node s again. It first counts the
// redelivery in the node's record, by compare-and-swap, so that a node
// claimed meanwhile is left alone and two reconcilers never send the same
// hop twice for one stall.
func (e *Engine) redeliver(ctx context.Context, k keys, req *RequestRecord, s stalled) error {
	rec, now := *s.rec, e.o.Now()
	env := s.send
	if rec.Status == NodeWaiting {
		cursor, err := parseInstance(s.inst)
		if err != nil {
			return err
		}
		r := &run{e: e, reqID: req.ID, inc: req.Incarnation, trace: req.Trace, env: &Envelope{Query: req.Query, CallbackURL: req.CallbackURL}}
		env = r.completionHop(cursor)
	}
	rec.Redelivered++
	rec.Sent, rec.Touched, rec.Send = now, now, env
	ver, ok, err := e.o.StateStore.CompareAndSwap(ctx, s.kv.Key, s.kv.Version, rec.encode(), e.o.RequestTTL)
	if err != nil {
		return fmt.Errorf("record the redelivery of %s: %w", s.inst, err)
	}
	if !ok {
		return nil // claimed or completed meanwhile
	}
	out := *env
	out.Redelivered, out.NodeVersion = rec.Redelivered, 0
	if s.restart {
		out.NodeVersion = ver
	}
	e.obs.HopRedelivered(ctx, &out, s.reason)
	e.log.Info("hop sent again", "request", out.RequestID, "node", s.inst, "reason", s.reason, "redelivered", rec.Redelivered)
	e.send(ctx, &out)
	return nil
}

// RunReconciler makes a reconciler pass every ReconcileInterval until ctx
// ends. With a StateStore that implements sdk.Elector, the processes of a
// flow elect one of them to reconcile at a time; the others wait to take
// over. Errors of a pass are logged, and the next pass tries again.
func (e *Engine) RunReconciler(ctx context.Context) error {
	if e.flow.sync {
		return nil
	}
	el, ok := e.o.StateStore.(sdk.Elector)
	for ctx.Err() == nil {
		lctx, release := ctx, func() {}
		if ok {
			var err error
			lctx, release, err = el.Lead(ctx, "reconciler/"+e.o.Flow)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Warn("reconciler election failed; trying again", "err", err)
					sleep(ctx, e.o.ReconcileInterval)
				}
				continue
			}
			e.log.Info("this process reconciles the flow", "flow", e.o.Flow)
		}
		e.reconcileWhile(lctx)
		release()
	}
	return nil
}

// reconcileWhile makes passes until ctx ends.
func (e *Engine) reconcileWhile(ctx context.Context) {
	t := time.NewTicker(e.o.ReconcileInterval)
	defer t.Stop()
	for {
		if rep, err := e.Reconcile(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("reconciler pass failed", "err", err)
		} else if rep.Redelivered > 0 || rep.Drained > 0 {
			e.log.Info("reconciler pass", "requests", rep.Requests, "redelivered", rep.Redelivered, "drained", rep.Drained)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
