package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

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
		return r.forkNone(ctx, cursor, node, inst, rec, ver, out)
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

// forkNone completes dynamic node inst when it selected no branch: the
// input passes through a conditional node, and a foreach node's aggregator
// sees no results.
func (r *run) forkNone(ctx context.Context, cursor []Frame, node *sdk.Node, inst string, rec *nodeRecord, ver int64, out []byte) error {
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
