package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// fork starts the branches of the conditional or foreach node the run
// holds: it records the chosen branch keys, stages the hops of the
// branches it launches now, and its last write marks the node waiting.
func (r *run) fork(ctx context.Context, cursor []Frame, node *sdk.Node, out []byte) error {
	rec := r.hold.record()
	keys, inputs, err := r.choose(node, rec.Options, out)
	if err != nil {
		return r.nodeFailed(ctx, &sdk.NodeError{Node: r.inst, Attempts: r.attempts, Err: err})
	}
	if len(keys) == 0 {
		return r.forkNone(ctx, cursor, node, out)
	}
	limit := len(keys)
	if heldBack(node, len(keys)) {
		limit = node.MaxConcurrency()
	}
	forward := node.BranchDataForwarded()
	if rec.Options == nil {
		// Record the choice (and keep the inputs of branches launched
		// later, or of every branch when a failed one leaves a fault
		// record that refers to its input) before launching anything.
		if forward {
			kept := keys[limit:]
			if node.ToleratesFailures() {
				kept = keys
			}
			for _, key := range kept {
				if err := r.e.o.DataStore.Put(ctx, r.k.branchInput(r.inst, key), inputs[key]); err != nil {
					return r.release(ctx, fmt.Errorf("store branch input: %w", err))
				}
			}
		}
		if err := r.hold.update(ctx, func(n *nodeRecord) { n.Options = keys }); err != nil {
			return err
		}
	}
	for _, key := range keys[:limit] {
		if err := r.stageBranch(ctx, cursor, node, key, len(keys), inputs[key]); err != nil {
			return r.release(ctx, err)
		}
	}
	return r.commit(ctx, func(n *nodeRecord) {
		n.Status, n.Hop, n.LeaseUntil, n.Send, n.Launched, n.Attempts = NodeWaiting, "", time.Time{}, nil, limit, r.attempts
	})
}

// choose returns the branch keys of node and their inputs: the keys
// recorded by an earlier delivery (chosen, with the inputs of a split run
// again), or a fresh choice.
func (r *run) choose(node *sdk.Node, chosen []string, out []byte) ([]string, map[string][]byte, error) {
	if chosen == nil {
		return r.branchKeys(node, out)
	}
	inputs := map[string][]byte{}
	if _, m, err := r.branchKeys(node, out); err == nil {
		inputs = m
	}
	return chosen, inputs, nil
}

// stageBranch stages the hop that starts branch key (of total) of dynamic
// node at cursor, with its input (data forwarded) or without.
func (r *run) stageBranch(ctx context.Context, cursor []Frame, node *sdk.Node, key string, total int, data []byte) error {
	target := branchStart(cursor, node, key, total)
	if !node.BranchDataForwarded() {
		return r.stageHop(ctx, target, "", nil, true)
	}
	return r.stageHop(ctx, target, "", data, false)
}

// forkNone completes the dynamic node when it selected no branch: the input
// passes through a conditional node, and a foreach node's aggregator sees
// no results.
func (r *run) forkNone(ctx context.Context, cursor []Frame, node *sdk.Node, out []byte) error {
	res := out
	if node.Kind() == sdk.KindForEach {
		res = nil
		if agg := node.SubAggregator(); agg != nil && node.BranchDataForwarded() {
			var err error
			if res, err = callAggregator(agg, map[string][]byte{}, "aggregator of "+r.inst); err != nil {
				return r.nodeFailed(ctx, &sdk.NodeError{Node: r.inst, Err: err})
			}
		}
	}
	if err := r.complete(ctx, cursor, node, res); err != nil {
		return r.release(ctx, err)
	}
	return r.commit(ctx, r.succeeded)
}

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

// branchDone records the result of branch key of the dynamic node at
// cursor (see recordBranch).
func (r *run) branchDone(ctx context.Context, cursor []Frame, node *sdk.Node, key string, branches int, out []byte) error {
	var marker []byte
	if node.BranchDataForwarded() {
		var err error
		if marker, err = r.mark(ctx, r.k.branch(instanceID(cursor), key), out); err != nil {
			return fmt.Errorf("store branch result: %w", err)
		}
	}
	return r.recordBranch(ctx, cursor, node, key, branches, marker)
}

// recordBranch records marker, the result or fault of branch key of the
// dynamic node at cursor. branches is the number of branches the node
// started, from the branch's cursor (0 if unknown). The marker is written
// by the delivery's last write, with a count of the results after it: the
// branch that completes the count completes the node, once its own node is
// done. Without the number of branches, or behind a concurrency limit (a
// finished branch launches the next), the marker is written at once and
// the node's record read with it.
func (r *run) recordBranch(ctx context.Context, cursor []Frame, node *sdk.Node, key string, branches int, marker []byte) error {
	inst := instanceID(cursor)
	create := sdk.TxnCreate(r.k.branch(inst, key), marker, r.e.o.RequestTTL)
	if branches > 0 && !heldBack(node, branches) {
		r.out.counts = append(r.out.counts, stagedCount{op: len(r.out.ops) + 1, total: branches, cursor: cursor, node: node})
		r.out.ops = append(r.out.ops, create, sdk.TxnCount(r.k.branches(inst)))
		return nil
	}
	res, err := r.e.txn(ctx, create, sdk.TxnGet(r.k.node(inst)), sdk.TxnCount(r.k.branches(inst)))
	if err != nil {
		return fmt.Errorf("record branch result: %w", err)
	}
	rec, err := dynamicRecord(inst, res[1])
	if err != nil {
		return err
	}
	total, finished := len(rec.Options), res[2].Count
	if heldBack(node, total) {
		// Each finished branch lets one more start; the create of its
		// record makes each start happen once.
		limit := node.MaxConcurrency()
		for i := limit; i < min(total, limit+finished); i++ {
			if err := r.launchLater(ctx, cursor, node, inst, rec.Options[i], total); err != nil {
				return err
			}
		}
	}
	r.out.counts = append(r.out.counts, stagedCount{op: len(r.out.ops), total: total, cursor: cursor, node: node})
	r.out.ops = append(r.out.ops, sdk.TxnCount(r.k.branches(inst)))
	return nil
}

// launchLater stages the hop of a branch held back behind a concurrency
// limit, with the input the fork stored for it.
func (r *run) launchLater(ctx context.Context, cursor []Frame, node *sdk.Node, inst, key string, total int) error {
	var data []byte
	if node.BranchDataForwarded() {
		b, err := r.e.o.DataStore.Get(ctx, r.k.branchInput(inst, key))
		if err != nil {
			return fmt.Errorf("load branch input %s[%s]: %w", inst, key, err)
		}
		data = b
	}
	return r.stageBranch(ctx, cursor, node, key, total, data)
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

// runCompletions completes the dynamic nodes queued by the run's last
// writes, one after the other (completing one may finish a branch of
// another).
func (r *run) runCompletions(ctx context.Context) error {
	for len(r.completions) > 0 {
		c := r.completions[0]
		r.completions = r.completions[1:]
		if err := r.completeDynamic(ctx, c.cursor, c.node); err != nil {
			return err
		}
	}
	return nil
}

// completeDynamic completes the dynamic node at cursor when it is waiting
// and all of its branches have finished: exactly one caller wins the swap
// from waiting to completing, aggregates, continues, and its last write
// marks the node succeeded. Completing holds a lease like a running node,
// and the record holds a completion hop: if the completer dies, the
// reconciler sends it once the lease has run out, and its receiver takes
// the completion over.
func (r *run) completeDynamic(ctx context.Context, cursor []Frame, node *sdk.Node) error {
	inst := instanceID(cursor)
	res, err := r.e.txn(ctx, sdk.TxnGet(r.k.node(inst)), sdk.TxnCount(r.k.branches(inst)))
	if err != nil {
		return fmt.Errorf("read dynamic node %s: %w", inst, err)
	}
	rec, err := dynamicRecord(inst, res[0])
	if errors.Is(err, sdk.ErrNotFound) {
		return nil // the request ended and was cleaned up meanwhile
	}
	if err != nil {
		return err
	}
	now := r.e.o.Now()
	switch {
	case rec.Status == NodeWaiting && res[1].Count >= len(rec.Options):
	case rec.Status == NodeCompleting && !now.Before(rec.LeaseUntil):
		// The completer died: take its completion over.
	default:
		return nil // branches still run, another completes it, or it is done
	}
	claimed := *rec
	claimed.Send = r.completionHop(cursor)
	claimed.Status, claimed.Hop, claimed.LeaseUntil, claimed.Touched = NodeCompleting, claimed.Send.HopID, now.Add(r.e.o.Lease), now
	ver, ok, err := r.e.o.StateStore.CompareAndSwap(ctx, r.k.node(inst), res[0].Version, claimed.encode(), r.e.o.RequestTTL)
	if err != nil || !ok {
		return err // another delivery completes it
	}
	r.take(ctx, inst, &claimed, ver)
	defer r.hold.stop()
	out, faults, err := r.branchResults(ctx, node, inst, rec.Options)
	withFaults := func(n *nodeRecord) { n.Faults = faults }
	if err != nil {
		var ne *sdk.NodeError
		if errors.As(err, &ne) {
			return r.nodeFailed(ctx, ne, withFaults)
		}
		return err // the lease runs out and the completion is sent again
	}
	if err := r.complete(ctx, cursor, node, out); err != nil {
		return err
	}
	return r.commit(ctx, func(n *nodeRecord) { n.ended(NodeSucceeded, r.endTime); withFaults(n) })
}

// completionHop is the hop that completes the dynamic node at cursor.
func (r *run) completionHop(cursor []Frame) *Envelope {
	inst := instanceID(cursor)
	return &Envelope{
		Version: EnvelopeVersion, Flow: r.e.o.Flow, RequestID: r.reqID, Incarnation: r.inc, DefHash: r.e.hash,
		HopID: hopID(r.reqID, r.inc, inst+"#complete"), Cursor: cursor, Complete: true,
		Query: r.env.Query, CallbackURL: r.env.CallbackURL, Trace: cloneTrace(r.trace),
	}
}

// branchResults loads the results of the branches keys of dynamic node
// inst and aggregates them (nil when the node does not forward branch
// data), with the fault records of the branches that failed within the
// node's tolerated failures. Too many faults, or a failing aggregator, give
// a *sdk.NodeError.
func (r *run) branchResults(ctx context.Context, node *sdk.Node, inst string, keys []string) ([]byte, []sdk.Fault, error) {
	forward := node.BranchDataForwarded()
	if !forward && !node.ToleratesFailures() {
		return nil, nil, nil
	}
	done, err := r.e.o.StateStore.List(ctx, r.k.branches(inst))
	if err != nil {
		return nil, nil, fmt.Errorf("load branch results: %w", err)
	}
	markers := make(map[string][]byte, len(done))
	for _, kv := range done {
		markers[kv.Key] = kv.Value
	}
	faults := faultsOf(keys, func(k string) []byte { return markers[r.k.branch(inst, k)] })
	if err := tolerated(node, inst, len(keys), faults); err != nil {
		return nil, faults, err
	}
	agg := node.SubAggregator()
	if !forward || agg == nil {
		return nil, faults, nil
	}
	results := make(map[string][]byte, len(keys))
	for _, k := range keys {
		key := r.k.branch(inst, k)
		if isFault(markers[key]) {
			continue
		}
		v, err := r.loadMarked(ctx, key, markers[key])
		if err != nil {
			return nil, faults, fmt.Errorf("load branch result %s[%s]: %w", inst, k, err)
		}
		results[k] = v
	}
	r.sctx.SetNode(ctx, node.ID())
	r.sctx.SetFaults(faults)
	defer r.sctx.SetFaults(nil)
	out, err := callAggregator(agg, results, "aggregator of "+inst)
	if err != nil {
		return nil, faults, &sdk.NodeError{Node: inst, Err: err}
	}
	return out, faults, nil
}
