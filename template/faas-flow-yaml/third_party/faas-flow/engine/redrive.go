package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// ErrRedriveExpired: the working state a redrive needs has expired (see
// Options.RedriveRetention), or was never kept.
var ErrRedriveExpired = errors.New("the request's working state has expired")

// Redrive starts a failed or stopped request again from where it stopped:
// the nodes that failed or never ran (cancelled) run again, with the inputs
// they had; the nodes that succeeded keep their outputs and do not run
// again. A foreach node that failed on too many faulty branches runs only
// those branches again; one whose aggregator failed completes again. The
// request's record counts the redrive, each node reset keeps its earlier
// runs (NodeStatus.Earlier), and OnFailure and Finally run again at the new
// end. It is refused with ErrWrongState unless the request has failed or
// stopped and drained, with ErrDefinitionChanged when the flow's structure
// changed since, and with ErrRedriveExpired when the state it needs is gone.
func (e *Engine) Redrive(ctx context.Context, id string) (*RequestRecord, error) {
	k, rec, err := e.recordKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case rec.State != StateFailed && rec.State != StateStopped:
		return nil, fmt.Errorf("%w: request %s is %s; only a failed or stopped request can be redriven", ErrWrongState, id, rec.State)
	case rec.DefHash != e.hash:
		return nil, fmt.Errorf("%w: request %s ran definition %s, this flow is %s", ErrDefinitionChanged, id, rec.DefHash, e.hash)
	case !rec.Cleaned || rec.Finalizing:
		return nil, fmt.Errorf("%w: request %s still has work in flight or handlers to run; redrive it once it has drained", ErrWrongState, id)
	}
	if err := e.redriveWindow(rec); err != nil {
		return nil, err
	}
	nodes, err := e.o.StateStore.List(ctx, k.nodes())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: request %s ended %s ago", ErrRedriveExpired, id, e.o.Now().Sub(*rec.Ended).Round(time.Second))
	}
	p, err := e.redrivePlan(ctx, k, rec, nodes)
	if err != nil {
		return nil, err
	}
	if len(p.hops) == 0 {
		return nil, fmt.Errorf("%w: request %s has no node that failed or did not run", ErrWrongState, id)
	}
	if err := e.keepEarlierRuns(ctx, k, p); err != nil {
		return nil, err
	}
	if err := e.resetNodes(ctx, k, p); err != nil {
		return nil, err
	}
	running, err := e.restartRecord(ctx, k, rec)
	if err != nil {
		return nil, err
	}
	for _, env := range p.hops {
		e.send(ctx, env)
	}
	e.log.Info("request redriven", "request", id, "redrives", running.Redrives, "nodes", len(p.hops))
	return running, nil
}

// redriveWindow refuses, with ErrRedriveExpired, a request that ended
// longer than the redrive retention ago, or that started longer than the
// request TTL ago: the oldest of its kept keys and data expire then.
func (e *Engine) redriveWindow(rec *RequestRecord) error {
	now := e.o.Now()
	switch {
	case rec.Ended != nil && now.Sub(*rec.Ended) > e.o.RedriveRetention:
		return fmt.Errorf("%w: request %s ended %s ago, and a request can be redriven for %s after its end",
			ErrRedriveExpired, rec.ID, now.Sub(*rec.Ended).Round(time.Second), e.o.RedriveRetention)
	case now.Sub(rec.Created) >= e.o.RequestTTL:
		return fmt.Errorf("%w: request %s started %s ago, and its working state expires %s after its start",
			ErrRedriveExpired, rec.ID, now.Sub(rec.Created).Round(time.Second), e.o.RequestTTL)
	}
	return nil
}

// redrive is what a redrive does: node records to reset (and the status
// each gets), fault records to remove, and the hops to send.
type redrive struct {
	resets []reset
	faults []string // keys of fault markers to delete
	hops   []*Envelope
}

type reset struct {
	kv     sdk.KV
	rec    *nodeRecord
	status string // NodePending, NodeWaiting for a dynamic node, "": delete
}

// redrivePlan decides what a redrive of the request does with its nodes.
func (e *Engine) redrivePlan(ctx context.Context, k keys, rec *RequestRecord, nodes []sdk.KV) (*redrive, error) {
	status := make(map[string]string, len(nodes))
	for _, kv := range nodes {
		if nr, err := decodeNode(kv.Key, kv.Value); err == nil {
			status[kv.Key[len(k.nodes()):]] = nr.Status
		}
	}
	r := &run{e: e, reqID: rec.ID, inc: rec.Incarnation, trace: rec.Trace, env: &Envelope{Query: rec.Query, CallbackURL: rec.CallbackURL}}
	p := &redrive{}
	for _, kv := range nodes {
		inst := kv.Key[len(k.nodes()):]
		nr, err := decodeNode(inst, kv.Value)
		if err != nil || !redriven(nr.Status) || insideSucceeded(inst, status) {
			continue // done, or a tolerated fault of a foreach that succeeded
		}
		if nr.Options != nil {
			// A dynamic node failed: it waits for its branches again, and
			// completes again at once when none of them runs again.
			p.resets = append(p.resets, reset{kv: kv, rec: nr, status: NodeWaiting})
			if !anyRedriven(inst, nodes, k, status) {
				cursor, err := parseInstance(inst)
				if err != nil {
					return nil, err
				}
				p.hops = append(p.hops, r.completionHop(cursor))
			}
			continue
		}
		env := nr.Send
		if env == nil {
			if env, err = e.outboxHop(ctx, k, inst); err != nil {
				return nil, err
			}
		}
		if env == nil {
			if nr.Status == NodeFailed {
				return nil, fmt.Errorf("%w: the hop of node %s is gone", ErrRedriveExpired, inst)
			}
			// Reserved, never sent, then cancelled: its parent runs again
			// and starts it afresh.
			p.resets = append(p.resets, reset{kv: kv, rec: nr, status: ""})
			continue
		}
		p.resets = append(p.resets, reset{kv: kv, rec: nr, status: NodePending})
		p.hops = append(p.hops, env)
		if key, ok := faultKey(k, inst); ok {
			p.faults = append(p.faults, key)
		}
	}
	return p, nil
}

// redriven reports whether a redrive runs again a node in status: one that
// failed, or did not run (cancelled when the request ended, or left pending
// or waiting by an earlier redrive that stopped halfway).
func redriven(status string) bool {
	switch status {
	case NodeFailed, NodeCancelled, NodePending, NodeWaiting:
		return true
	}
	return false
}

// insideSucceeded reports whether inst is inside a branch of a dynamic node
// that succeeded: a tolerated fault, which stays one.
func insideSucceeded(inst string, status map[string]string) bool {
	c, err := parseInstance(inst)
	if err != nil {
		return false
	}
	for i := len(c) - 2; i >= 0; i-- {
		if c[i].Key != "" && status[instanceID(append(append([]Frame(nil), c[:i]...), Frame{Node: c[i].Node}))] == NodeSucceeded {
			return true
		}
	}
	return false
}

// anyRedriven reports whether a redrive runs again a node inside a branch
// of the dynamic node dyn.
func anyRedriven(dyn string, nodes []sdk.KV, k keys, status map[string]string) bool {
	for _, kv := range nodes {
		inst := kv.Key[len(k.nodes()):]
		if strings.HasPrefix(inst, dyn+"[") && redriven(status[inst]) {
			return true
		}
	}
	return false
}

// faultKey returns the key of the branch marker of the innermost branch
// inst is in, where a tolerated failure of inst left its fault record.
func faultKey(k keys, inst string) (string, bool) {
	c, err := parseInstance(inst)
	if err != nil {
		return "", false
	}
	for i := len(c) - 2; i >= 0; i-- {
		if c[i].Key != "" {
			dyn := instanceID(append(append([]Frame(nil), c[:i]...), Frame{Node: c[i].Node}))
			return k.branch(dyn, c[i].Key), true
		}
	}
	return "", false
}

// resetNodes removes the fault records the redrive replaces and moves the
// nodes it runs again back to pending (or waiting) before the request runs
// again (their runs so far go to the request record): should the redrive
// stop halfway, the request is still ended, and a redrive again finds them.
func (e *Engine) resetNodes(ctx context.Context, k keys, p *redrive) error {
	for _, key := range p.faults {
		b, _, err := e.o.StateStore.Get(ctx, key)
		if err == nil && isFault(b) {
			if err := e.o.StateStore.Delete(ctx, key); err != nil {
				return fmt.Errorf("remove a fault record: %w", err)
			}
		} else if err != nil && !errors.Is(err, sdk.ErrNotFound) {
			return fmt.Errorf("read a branch marker: %w", err)
		}
	}
	now := e.o.Now()
	hop := 0
	for _, r := range p.resets {
		if r.status == "" {
			if err := e.o.StateStore.Delete(ctx, r.kv.Key); err != nil {
				return fmt.Errorf("remove node %s: %w", r.kv.Key[len(k.nodes()):], err)
			}
			continue
		}
		next := *r.rec
		next.NodeStatus = NodeStatus{Status: r.status}
		next.Hop, next.LeaseUntil, next.Touched, next.Sent = "", time.Time{}, now, now
		ver, ok, err := e.o.StateStore.CompareAndSwap(ctx, r.kv.Key, r.kv.Version, next.encode(), e.o.RequestTTL)
		if err != nil {
			return fmt.Errorf("reset node %s: %w", r.kv.Key[len(k.nodes()):], err)
		}
		if !ok {
			return fmt.Errorf("%w: node %s changed during the redrive", ErrWrongState, r.kv.Key[len(k.nodes()):])
		}
		if r.status == NodePending {
			env := *p.hops[hop]
			env.NodeVersion, env.Redelivered = ver, 0
			p.hops[hop] = &env
			hop++
		}
	}
	return nil
}

// keepEarlierRuns adds the runs of the nodes the redrive resets to the
// request record (RequestRecord.Earlier) before they are reset. It runs
// while the request is still ended, and adds a run only once: a redrive
// that stopped halfway and is called again does not count a run twice.
func (e *Engine) keepEarlierRuns(ctx context.Context, k keys, p *redrive) error {
	_, _, err := e.updateRecord(ctx, k, e.retentionOf(StateFailed), func(r *RequestRecord) bool {
		if r.State != StateFailed && r.State != StateStopped {
			return false
		}
		changed := false
		for _, rs := range p.resets {
			run := rs.rec.NodeStatus
			if rs.status == "" || run.Status == NodePending || run.Status == NodeWaiting {
				continue // nothing ran
			}
			inst := rs.kv.Key[len(k.nodes()):]
			if runs := r.Earlier[inst]; len(runs) > 0 && sameRun(runs[len(runs)-1], run) {
				continue
			}
			if r.Earlier == nil {
				r.Earlier = map[string][]NodeStatus{}
			}
			r.Earlier[inst] = append(r.Earlier[inst], run)
			changed = true
		}
		return changed
	})
	if err != nil {
		return fmt.Errorf("keep the runs of the nodes to reset: %w", err)
	}
	return nil // not won: nothing to add, or the request runs again, which resetNodes finds out
}

// sameRun reports whether a and b record the same run of a node.
func sameRun(a, b NodeStatus) bool {
	return a.Status == b.Status && a.Attempts == b.Attempts && timeEqual(a.Started, b.Started) && timeEqual(a.Ended, b.Ended)
}

func timeEqual(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// restartRecord puts the request back in the reconciler's index, then
// moves its record back to running, counting the redrive. In that order: a
// redrive that stops between the two leaves an ended request in the index,
// which the reconciler drops; the other order could leave a running
// request nothing watches.
func (e *Engine) restartRecord(ctx context.Context, k keys, rec *RequestRecord) (*RequestRecord, error) {
	now := e.o.Now()
	if _, _, err := e.o.StateStore.Create(ctx, k.active, []byte(now.UTC().Format(time.RFC3339Nano)), e.o.RequestTTL); err != nil {
		return nil, fmt.Errorf("put the request back in the reconciler's index: %w", err)
	}
	if err := e.relist(ctx, rec, e.o.RequestTTL); err != nil {
		return nil, err
	}
	running, won, err := e.updateRecord(ctx, k, e.o.RequestTTL, func(r *RequestRecord) bool {
		if r.State != StateFailed && r.State != StateStopped {
			return false
		}
		r.State, r.Ended, r.Error, r.Result, r.ResultRef = StateRunning, nil, "", nil, ""
		r.Cleaned, r.Nodes, r.Finalizing = false, nil, false
		r.Redrives++
		return true
	})
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, fmt.Errorf("%w: request %s is %s", ErrWrongState, rec.ID, running.State)
	}
	return running, nil
}
