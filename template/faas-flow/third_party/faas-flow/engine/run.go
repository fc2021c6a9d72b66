package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// run is one delivery of a hop: the node it runs and everything it does
// inline after it (routing, joins, sub-DAG exits, the request's end), then
// the completion of dynamic nodes whose last branch it finished.
type run struct {
	e     *Engine
	wf    *sdk.Workflow
	sctx  *sdk.Context
	k     keys
	env   *Envelope
	reqID string
	inc   string
	query url.Values
	trace map[string]string

	// inst is the node the delivery holds (hold), and work the context its
	// operations run in (cancelled when the hold is lost).
	inst     string
	hold     *hold
	work     context.Context
	attempts int
	// out is what the delivery's last write will carry (see outbox.go).
	out outbox
	// reservations are the records of children created ahead (see
	// reserve.go), and early the hops of reserved children, sent before the
	// last write, which stores them in the outbox.
	reservations map[string]*reservation
	early        []*Envelope
	// endTime is the node's end, taken before its children's hops leave.
	endTime time.Time
	// known is the request record as this delivery last read it, so that
	// ending the request can swap it without reading it first.
	known *storedRecord
	// endRecord is the request record the last write ended the request
	// with; endWritten is set when a store without transactions has
	// written it ahead of the node's final status.
	endRecord  *RequestRecord
	endVersion int64
	endWritten bool
	// runningAfter is set when the last write also read the request record,
	// atomically, and found it not ended: the hop then has nothing to
	// drain.
	runningAfter bool
	// completions are dynamic nodes to complete once the node is done.
	completions []completion
	// finalized is set once the run has run the handlers of the request it
	// ended.
	finalized bool
}

// newRun returns the run of hop env with the flow built for its request
// (err: the flow could not be built).
func (e *Engine) newRun(ctx context.Context, k keys, env *Envelope, trace map[string]string) (*run, error) {
	query, _ := url.ParseQuery(env.Query)
	r := &run{e: e, k: k, env: env, reqID: env.RequestID, inc: env.Incarnation, query: query, trace: trace}
	r.sctx = sdk.NewContext(ctx, e.o.Flow, env.RequestID, query, r.values())
	var err error
	r.wf, err = e.flow.build(r.sctx)
	return r, err
}

// take makes the run the holder of node inst's record rec at version ver
// (just claimed): the heartbeat starts renewing its lease.
func (r *run) take(ctx context.Context, inst string, rec *nodeRecord, ver int64) {
	r.inst = inst
	r.hold, r.work = r.e.newHold(ctx, r.k.node(inst), rec, ver)
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

// execute runs the held node and routes its output. Its last write (see
// commit) marks the node succeeded and starts what comes next.
func (r *run) execute(ctx context.Context, node *sdk.Node) error {
	defer r.hold.stop()
	input, err := r.input(ctx, r.env)
	if err != nil {
		return r.nodeFailed(ctx, err)
	}
	out, attempts, err := r.runNode(r.work, node, r.env.Cursor, input)
	r.attempts = attempts
	if err != nil {
		if r.work.Err() != nil && ctx.Err() == nil {
			// The lease was lost while the node ran: another delivery has
			// the node now, and this one's result does not count.
			return fmt.Errorf("%w: node %s was taken over while it ran", ErrHopInProgress, r.inst)
		}
		return r.nodeFailed(ctx, &sdk.NodeError{Node: r.inst, Attempts: attempts, Err: err})
	}
	if node.IsDynamic() {
		return r.fork(ctx, r.env.Cursor, node, out)
	}
	if err := r.complete(ctx, r.env.Cursor, node, out); err != nil {
		return r.release(ctx, err)
	}
	return r.commit(ctx, r.succeeded)
}

// succeeded is the final status of a node that ran.
func (r *run) succeeded(n *nodeRecord) {
	n.ended(NodeSucceeded, r.endTime)
	n.Attempts = r.attempts
}

// requestRunning reports whether a txn's read of the request record found
// it not ended.
func requestRunning(res sdk.TxnResult) bool {
	// Only the state is decoded: the whole record (times, trace context)
	// was 1.7% of a flow's CPU under load, on every node's last write.
	var req struct {
		State string `json:"state"`
	}
	return res.OK && json.Unmarshal(res.Value, &req) == nil && !terminalRequest(req.State)
}

// release gives the node back (pending, its hop still in the record) after
// a failure to route its output, so that a redelivery, or the reconciler,
// runs it again at once rather than when the lease runs out.
func (r *run) release(ctx context.Context, cause error) error {
	r.dropReservations(ctx) // while the claim still holds
	_, out, err := r.hold.finish(ctx, func(n *nodeRecord) {
		n.Status, n.Hop, n.LeaseUntil = NodePending, "", time.Time{}
		n.Sent = r.e.o.Now()
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w (and giving the node back failed: %w)", cause, err)
	case out != written:
		return fmt.Errorf("%w (and the node was taken over meanwhile)", cause)
	}
	return cause
}

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
