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

// run is the state of one invocation: one received hop and everything it
// executes inline (sub-DAG entry and exit, branch completion, request end).
type run struct {
	e     *Engine
	wf    *sdk.Workflow
	sctx  *sdk.Context
	k     keys
	env   *Envelope
	reqID string
	query url.Values
	trace map[string]string
	// recovering is set when this delivery took over a node from an earlier
	// delivery that did not finish: markers it loses are re-sent anyway.
	recovering bool
	// reservations are the node records of children created ahead of
	// their emit, by instance (see reserve.go); read-only once set, but
	// each entry is updated by its own emit.
	reservations map[string]*reservation
	// runningAfter is set when the hop's last write (the node's final
	// status) also read the request record, atomically, and found it not
	// ended: the hop then has nothing to drain.
	runningAfter bool
	// final is the node's final write while it waits to ride in the
	// transaction that records its branch's result (see branchEnd);
	// finalDone is set once it has.
	final     *finalWrite
	finalDone bool
	// known is the request record as this hop last read or wrote it, so
	// that ending the request can swap it without reading it first.
	known *storedRecord
}

// takeKnown returns the request record this run knows, once.
func (r *run) takeKnown() *storedRecord {
	k := r.known
	r.known = nil
	return k
}

// finalWrite is the final status of a node that ends a branch, written
// together with the branch's result.
type finalWrite struct {
	inst string
	rec  *nodeRecord
	ver  int64
}

// values binds the Context's value store to the request's namespace.
func (r *run) values() sdk.ValueStore { return prefixedValues{ds: r.e.o.DataStore, prefix: r.k.work} }

type prefixedValues struct {
	ds     sdk.DataStore
	prefix string
}

func (p prefixedValues) Put(ctx context.Context, key string, v []byte) error {
	return p.ds.Put(ctx, p.prefix+key, v)
}
func (p prefixedValues) Get(ctx context.Context, key string) ([]byte, error) {
	return p.ds.Get(ctx, p.prefix+key)
}
func (p prefixedValues) Delete(ctx context.Context, key string) error {
	return p.ds.Delete(ctx, p.prefix+key)
}

// setNode writes the node record with CAS from version ver.
func (r *run) setNode(ctx context.Context, inst string, rec *nodeRecord, ver int64) (int64, error) {
	b, _ := json.Marshal(rec)
	st := r.e.o.StateStore
	nver, ok, err := st.CompareAndSwap(ctx, r.k.node(inst), ver, b, r.e.o.RequestTTL)
	if err != nil {
		return 0, fmt.Errorf("update node %s: %w", inst, err)
	}
	if !ok {
		return 0, fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, inst)
	}
	return nver, nil
}

// execute runs the claimed node and routes its output.
func (r *run) execute(ctx context.Context, env *Envelope, node *sdk.Node, inst string, rec *nodeRecord, ver int64) error {
	input, err := r.input(ctx, env)
	if err != nil {
		return r.nodeFailed(ctx, inst, rec, ver, err)
	}
	out, attempts, err := r.runNode(ctx, node, env.Cursor, input)
	rec.Attempts = attempts
	if err != nil {
		return r.nodeFailed(ctx, inst, rec, ver, &sdk.NodeError{Node: inst, Attempts: attempts, Err: err})
	}
	if node.IsDynamic() {
		return r.fork(ctx, env.Cursor, node, inst, rec, ver, out)
	}
	if _, _, ok := r.branchEnd(env.Cursor, node); ok {
		r.final = &finalWrite{inst: inst, rec: rec, ver: ver}
	}
	if err := r.complete(ctx, env.Cursor, node, out); err != nil {
		if r.finalDone {
			// The node is done; the redelivery of this hop finishes what
			// is left (recoverBranchEnd).
			return err
		}
		return r.release(ctx, inst, rec, ver, err)
	}
	if r.finalDone {
		return nil
	}
	now := r.e.o.Now()
	rec.Status, rec.Ended, rec.Hop, rec.LeaseUntil = NodeSucceeded, &now, "", time.Time{}
	return r.setNodeLast(ctx, inst, rec, ver)
}

// setNodeLast writes the node's final status, the last write of the hop,
// and reads the request record in the same step, so that finishHop need not
// read it again when the request goes on.
func (r *run) setNodeLast(ctx context.Context, inst string, rec *nodeRecord, ver int64) error {
	b, _ := json.Marshal(rec)
	res, err := r.e.txn(ctx, sdk.TxnSwap(r.k.node(inst), ver, b, r.e.o.RequestTTL), sdk.TxnGet(r.k.record))
	if err != nil {
		return fmt.Errorf("update node %s: %w", inst, err)
	}
	if !res[0].OK {
		return fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, inst)
	}
	r.runningAfter = requestRunning(res[1])
	return nil
}

// requestRunning reports whether a txn's read of the request record found
// it not ended.
func requestRunning(res sdk.TxnResult) bool {
	var req RequestRecord
	return res.OK && json.Unmarshal(res.Value, &req) == nil && !terminalRequest(req.State)
}

// release gives the node back (status pending) after a failure to route its
// output, so that a redelivery can run it again at once.
func (r *run) release(ctx context.Context, inst string, rec *nodeRecord, ver int64, cause error) error {
	r.dropUnsent(ctx) // while the claim still holds (see reserve.go)
	rec.Status, rec.Hop, rec.LeaseUntil = NodePending, "", time.Time{}
	if _, err := r.setNode(ctx, inst, rec, ver); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// input assembles the node's input: inline data, a data reference, or the
// recorded inputs of a join passed through its aggregator.
func (r *run) input(ctx context.Context, env *Envelope) ([]byte, error) {
	if len(env.Join) > 0 {
		return r.joinInput(ctx, env.Join)
	}
	if env.DataRef != "" {
		b, err := r.e.o.DataStore.Get(ctx, r.k.work+env.DataRef)
		if err != nil {
			return nil, fmt.Errorf("load hop input: %w", err)
		}
		return b, nil
	}
	return env.Data, nil
}

func (r *run) joinInput(ctx context.Context, joinInst string) ([]byte, error) {
	joinCursor, err := parseInstance(joinInst)
	if err != nil {
		return nil, err
	}
	jn, err := r.resolve(joinCursor)
	if err != nil {
		return nil, err
	}
	arrived, err := r.e.o.StateStore.List(ctx, r.k.joins(joinInst))
	if err != nil {
		return nil, fmt.Errorf("load join arrivals of %s: %w", joinInst, err)
	}
	markers := make(map[string][]byte, len(arrived))
	for _, kv := range arrived {
		markers[kv.Key] = kv.Value
	}
	inputs := make(map[string][]byte, jn.InDegree())
	for _, p := range jn.Parents() {
		if _, data := p.EdgeOptions(jn); !data {
			continue
		}
		key := r.k.join(joinInst, p.Name())
		b, err := r.loadMarked(ctx, key, markers[key])
		if err != nil {
			return nil, fmt.Errorf("load join input %s -> %s: %w", p.Name(), joinInst, err)
		}
		inputs[p.Name()] = b
	}
	r.sctx.NodeInput = inputs
	agg := jn.Aggregator()
	if agg == nil {
		if len(inputs) == 1 {
			for _, b := range inputs {
				return b, nil
			}
		}
		return nil, nil
	}
	return callAggregator(agg, inputs, "aggregator of "+joinInst)
}
