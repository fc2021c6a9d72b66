package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faas-flow/faas-flow/sdk"
)

// The outbox: a delivery does not send the hops of the nodes it starts
// while it works. It stages them, and its last write — one transaction —
// records the final status of its node together with the records of those
// nodes, each holding the hop that starts it, and the end of the request
// when the node ends it. Only once that write has committed are the hops
// sent. A hop lost on the way (a queue that gives up, a process that dies
// right after the commit) is still in its node's record, from where the
// reconciler sends it again; a delivery that dies before the commit leaves
// its own node running under a lease that runs out, and its own hop is
// sent again. Nothing a delivery started is known only to the queue.

// txnInlineBudget bounds the hop data one transaction carries inline (etcd
// refuses requests over 1.5 MiB by default); past it, hop data goes to the
// DataStore and the hop refers to it.
const txnInlineBudget = 512 << 10

// maxTxnCreates bounds the node records one transaction creates (etcd
// allows 128 operations by default); a delivery that starts more nodes
// writes the rest ahead of its last write.
const maxTxnCreates = 96

// outbox is what a delivery stages for its last write.
type outbox struct {
	hops   []stagedHop   // node records to create, with their hops
	ops    []sdk.TxnOp   // other writes and reads (markers, counts)
	counts []stagedCount // branch-result counts among ops
	end    *requestEnd
	inline int // hop data staged inline so far
}

// stagedHop is the record of a node to create, with the hop that starts it.
type stagedHop struct {
	create sdk.TxnOp
	env    *Envelope
}

// stagedCount is a branch whose result the last write records; ops[op]
// counts the branch results after it. Once committed, the branch that
// brings the count to total completes the dynamic node.
type stagedCount struct {
	op     int
	total  int
	cursor []Frame
	node   *sdk.Node
}

// requestEnd is the end of the request, staged by the node that ends it.
type requestEnd struct {
	state  string // StateSucceeded or StateFailed
	result []byte // the request's result (success)
	out    []byte // result, when kept in the record
	ref    string // DataStore key of a result too large to keep inline
	cause  error  // failure
}

// completion is a dynamic node that may be ready to complete.
type completion struct {
	cursor []Frame
	node   *sdk.Node
}

// pendingRecord is the record of a node whose hop env has been written.
func (e *Engine) pendingRecord(env *Envelope) []byte {
	now := e.o.Now()
	return (&nodeRecord{NodeStatus: NodeStatus{Status: NodePending, Redelivered: env.Redelivered}, Send: env, Touched: now, Sent: now}).encode()
}

// stageHop stages the creation of the record of the node at target, with
// the hop that starts it: data is its input (inline, or in the DataStore
// when large), join names the join whose arrivals make up its input.
func (r *run) stageHop(ctx context.Context, target []Frame, join string, data []byte, noData bool) error {
	inst := instanceID(target)
	if inst == r.inst || r.staged(inst) {
		return nil // the node this delivery holds, or one already staged
	}
	c := r.reservations[inst]
	if c != nil && (!c.sendable || c.sent) {
		return nil // reserved by another delivery, which started it
	}
	env := &Envelope{
		Version: EnvelopeVersion, Flow: r.e.o.Flow, RequestID: r.reqID, Incarnation: r.inc, DefHash: r.e.hash,
		HopID: hopID(r.reqID, r.inc, inst), Cursor: target, Join: join, NoData: noData,
		Query: r.env.Query, CallbackURL: r.env.CallbackURL, Trace: cloneTrace(r.trace),
	}
	if err := r.placeData(ctx, env, data); err != nil {
		return err
	}
	if c != nil {
		// Reserved: the hop leaves before the last write, which keeps it
		// in the outbox.
		c.sent, env.NodeVersion = true, c.version
		r.early = append(r.early, env)
		return nil
	}
	r.out.hops = append(r.out.hops, stagedHop{create: sdk.TxnCreate(r.k.node(inst), r.e.pendingRecord(env), r.e.o.RequestTTL), env: env})
	return nil
}

// staged reports whether the hop of inst is staged already.
func (r *run) staged(inst string) bool {
	key := r.k.node(inst)
	for _, h := range r.out.hops {
		if h.create.Key == key {
			return true
		}
	}
	return false
}

// placeData puts data in env, or in the DataStore with a reference in env
// when it is over the inline limit or the transaction's inline budget.
func (r *run) placeData(ctx context.Context, env *Envelope, data []byte) error {
	if len(data) <= r.e.o.InlineLimit && r.out.inline+len(data) <= txnInlineBudget {
		env.Data = data
		r.out.inline += len(data)
		return nil
	}
	ref := "h/" + env.HopID
	if err := r.e.o.DataStore.Put(ctx, r.k.work+ref, data); err != nil {
		return fmt.Errorf("store hop input: %w", err)
	}
	env.DataRef = ref
	return nil
}

func cloneTrace(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	out := make(map[string]string, len(t)+2)
	for k, v := range t {
		out[k] = v
	}
	return out
}

// commit makes the delivery's last write: change sets its node's final
// status, and everything staged is written with it. When the request's
// record changed under a staged end, commit reads it again and tries once
// more; when the request has ended meanwhile, the end and the nodes it
// would start are dropped. After the write the staged hops are sent, the
// request's end is reported, and dynamic nodes whose last branch this was
// are queued for completion.
func (r *run) commit(ctx context.Context, change func(*nodeRecord)) error {
	r.endTime = r.e.o.Now()
	r.sendEarly(ctx)
	sent, err := r.writeAhead(ctx)
	if err != nil {
		return err
	}
	for tries := 0; ; tries++ {
		if tries == 16 {
			return fmt.Errorf("%w: the record of request %s keeps changing under the end of node %s", ErrHopInProgress, r.reqID, r.inst)
		}
		ops, endAt, again, err := r.lastWrite(ctx)
		if err != nil {
			return err
		}
		if again {
			continue
		}
		res, out, err := r.hold.finish(ctx, change, ops...)
		if err != nil {
			// The write's outcome is unknown: give the node back, in case
			// it did not happen, so a redelivery runs it at once (if it did,
			// the node's version moved on, and the node stays as it is).
			return r.release(ctx, fmt.Errorf("write the end of node %s: %w", r.inst, err))
		}
		rec := res[len(res)-1]
		switch out {
		case takenOver:
			return fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, r.inst)
		case conflict:
			r.known = &storedRecord{value: rec.Value, version: rec.Version}
			if !requestRunning(rec) {
				r.out = outbox{} // the request ended meanwhile: start nothing
			}
			continue
		}
		r.runningAfter = requestRunning(rec)
		if endAt >= 0 {
			r.endVersion = res[endAt].Version
		}
		r.afterCommit(ctx, res, sent)
		return nil
	}
}

// lastWrite returns the operations of the last write but the node's own
// swap: the staged creates and writes, the request's end (at endAt, -1 if
// none), and a read of the request record. Without transactions the end is
// written here, on its own (again: it must be tried once more, the record
// having changed).
func (r *run) lastWrite(ctx context.Context) (ops []sdk.TxnOp, endAt int, again bool, err error) {
	endAt = -1
	ops = make([]sdk.TxnOp, 0, len(r.out.hops)+len(r.out.ops)+2)
	for _, h := range r.out.hops {
		ops = append(ops, h.create)
	}
	ops = append(ops, r.out.ops...)
	for _, env := range r.early {
		b, _ := json.Marshal(env)
		ops = append(ops, sdk.TxnCreate(r.k.outbox(instanceID(env.Cursor)), b, r.e.o.RequestTTL))
	}
	if r.out.end != nil {
		op, err := r.endOp(ctx)
		if err != nil {
			return nil, -1, false, err
		}
		if r.e.tx != nil {
			endAt = len(ops)
			ops = append(ops, op)
		} else {
			// One key at a time: the request ends first, so that a crash
			// before the node's write leaves a node of an ended request,
			// which is cancelled, never a node that ended a request that
			// did not end.
			done, err := r.endAlone(ctx, op)
			if err != nil || !done {
				return nil, -1, !done, err
			}
			if !r.endWritten {
				// The end is written: its handlers run now, whatever becomes
				// of the node's own write.
				r.endWritten = true
				r.ended(ctx)
			}
		}
	}
	return append(ops, sdk.TxnGet(r.k.record)), endAt, false, nil
}

// afterCommit follows a last write (res its results): the hops of the
// records it and writeAhead created (sent) leave, the request's end is
// reported, and dynamic nodes whose last branch result it recorded are
// queued for completion.
func (r *run) afterCommit(ctx context.Context, res []sdk.TxnResult, sent []sendable) {
	for i, h := range r.out.hops {
		if res[i].OK {
			sent = append(sent, sendable{h.env, res[i].Version})
		}
	}
	r.sendAll(ctx, sent)
	if r.out.end != nil && !r.endWritten {
		r.ended(ctx)
	}
	r.endWritten = false
	r.early = nil
	for _, c := range r.out.counts {
		if res[len(r.out.hops)+c.op].Count >= c.total {
			r.completions = append(r.completions, completion{cursor: c.cursor, node: c.node})
		}
	}
	r.out = outbox{}
}

// sendEarly sends the hops of reserved children, a few at a time, before
// the last write.
func (r *run) sendEarly(ctx context.Context) {
	_ = concurrently(ctx, len(r.early), func(i int) error {
		r.e.send(ctx, r.early[i])
		return nil
	})
}

// sendable is a hop whose node record was created at version ver.
type sendable struct {
	env *Envelope
	ver int64
}

// writeAhead writes the records of staged nodes beyond what the last
// write takes (a wide fork) in batches ahead of it, each guarded by the
// hold, and returns the hops of the records it created.
func (r *run) writeAhead(ctx context.Context) ([]sendable, error) {
	var sent []sendable
	for len(r.out.hops) > maxTxnCreates {
		batch := r.out.hops[:maxTxnCreates]
		ops := make([]sdk.TxnOp, len(batch))
		for i, h := range batch {
			ops[i] = h.create
		}
		res, out, err := r.hold.txn(ctx, nil, ops...)
		if err != nil {
			return nil, fmt.Errorf("create node records: %w", err)
		}
		if out != written {
			return nil, fmt.Errorf("%w: node %s was taken over by another delivery", ErrHopInProgress, r.inst)
		}
		for i, h := range batch {
			if res[i].OK {
				sent = append(sent, sendable{h.env, res[i].Version})
			}
		}
		r.out.hops = r.out.hops[maxTxnCreates:]
	}
	return sent, nil
}

// sendAll sends the hops of sent, a few at a time.
func (r *run) sendAll(ctx context.Context, sent []sendable) {
	_ = concurrently(ctx, len(sent), func(i int) error {
		env := sent[i].env
		env.NodeVersion = sent[i].ver
		r.e.send(ctx, env)
		return nil
	})
}

// send seals and sends env. A hop the transport does not take is not an
// error of the delivery: its node's record holds it, and the reconciler
// sends it again once it stalls.
func (e *Engine) send(ctx context.Context, env *Envelope) {
	env.IssuedAt = e.o.Now()
	e.obs.HopEmitted(ctx, env)
	sealed, err := e.o.Signer.Seal(env)
	if err == nil {
		err = e.o.Transport.Send(ctx, env.RequestID, sealed)
	}
	if err != nil {
		e.log.Warn("hop not sent; the reconciler will send it again", "request", env.RequestID,
			"node", instanceID(env.Cursor), "err", fmt.Errorf("%w: %w", ErrHopNotSent, err))
	}
}

// endOp is the swap of the request record to the staged end.
func (r *run) endOp(ctx context.Context) (sdk.TxnOp, error) {
	if r.known == nil {
		b, ver, err := r.e.o.StateStore.Get(ctx, r.k.record)
		if err != nil {
			return sdk.TxnOp{}, fmt.Errorf("read request record: %w", err)
		}
		r.known = &storedRecord{value: b, version: ver}
	}
	var rec RequestRecord
	if err := json.Unmarshal(r.known.value, &rec); err != nil {
		return sdk.TxnOp{}, fmt.Errorf("corrupt request record: %w", err)
	}
	end, now := r.out.end, r.e.o.Now()
	rec.State, rec.Ended, rec.Updated, rec.Finalizing = end.state, &now, now, true
	if end.state == StateSucceeded {
		rec.Result, rec.ResultRef = end.out, end.ref
	} else {
		rec.Error = end.cause.Error()
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		return sdk.TxnOp{}, err
	}
	r.endRecord = &rec
	return sdk.TxnSwap(r.k.record, r.known.version, b, r.e.retentionOf(rec.State)), nil
}

// endAlone writes the request's end on its own, for a store without
// transactions. It returns false when the record had changed: the caller
// tries again with the record as it is now (r.known), or without the end
// when the request ended meanwhile.
func (r *run) endAlone(ctx context.Context, op sdk.TxnOp) (bool, error) {
	if r.endWritten {
		return true, nil
	}
	ver, ok, err := r.e.o.StateStore.CompareAndSwap(ctx, op.Key, op.Version, op.Value, op.TTL)
	if err != nil {
		return false, fmt.Errorf("write the end of request %s: %w", r.reqID, err)
	}
	if ok {
		r.endVersion = ver
		return true, nil
	}
	rec, ver, err := r.e.loadRecordRaw(ctx, r.k)
	if err != nil {
		return false, err
	}
	r.known = &storedRecord{value: rec, version: ver}
	if !requestRunning(sdk.TxnResult{OK: true, Value: rec}) {
		r.out = outbox{}
	}
	return false, nil
}
