package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faas-flow/faas-flow/sdk"
)

// complete routes the output of a finished node: one hop per child that
// became ready, or, for an end node, the completion of its DAG.
func (r *run) complete(ctx context.Context, cursor []Frame, node *sdk.Node, out []byte) error {
	if children := node.Children(); len(children) > 0 {
		// User forwarders run one by one; only the emits run concurrently.
		payloads := make([][]byte, len(children))
		for i, c := range children {
			fwd, data := node.EdgeOptions(c)
			if !data {
				continue
			}
			payloads[i] = out
			if fwd != nil {
				var err error
				if payloads[i], err = callForwarder(fwd, out, node.ID()+" -> "+c.Name()); err != nil {
					return err
				}
			}
		}
		return concurrently(ctx, len(children), func(i int) error {
			return r.toChild(ctx, cursor, node, children[i], payloads[i])
		})
	}
	d := node.Dag()
	parent := cursor[:len(cursor)-1]
	if ends := d.Ends(); len(ends) > 1 {
		// Several end nodes: a virtual end joins them without data.
		endInst := instanceID(parent) + "/[end]"
		arrived, err := r.arrive(ctx, endInst, node.Name(), nil)
		if err != nil {
			return fmt.Errorf("record end arrival: %w", err)
		}
		if arrived < len(ends) {
			return nil
		}
		done, _ := json.Marshal(&nodeRecord{NodeStatus: NodeStatus{Status: NodeSucceeded}})
		_, created, err := r.e.o.StateStore.Create(ctx, r.k.node(endInst), done, r.e.o.RequestTTL)
		if err != nil {
			return fmt.Errorf("fire virtual end: %w", err)
		}
		if !created && !r.recovering {
			return nil
		}
		out = nil
	}
	return r.dagDone(ctx, d, parent, out)
}

// dagDone continues after DAG d (entered at cursor parent) produced out.
func (r *run) dagDone(ctx context.Context, d *sdk.Dag, parent []Frame, out []byte) error {
	p := d.Parent()
	if p == nil {
		return r.finish(ctx, out)
	}
	switch p.Kind() {
	case sdk.KindSubDag:
		return r.complete(ctx, parent, p, out)
	default:
		last := parent[len(parent)-1]
		dyn := append(append([]Frame(nil), parent[:len(parent)-1]...), Frame{Node: last.Node})
		return r.branchDone(ctx, dyn, p, last.Key, last.Branches, out)
	}
}

// toChild forwards payload (node's output after the edge's forwarder) from
// node (at cursor) to child c.
func (r *run) toChild(ctx context.Context, cursor []Frame, node, c *sdk.Node, payload []byte) error {
	_, data := node.EdgeOptions(c)
	sibling := append(append([]Frame(nil), cursor[:len(cursor)-1]...), Frame{Node: c.Name()})
	target := leafCursor(cursor[:len(cursor)-1], c)
	if c.InDegree() == 1 {
		return r.emit(ctx, target, "", payload, !data)
	}
	joinInst := instanceID(sibling)
	var marker []byte
	if data {
		var err error
		if marker, err = r.mark(ctx, r.k.join(joinInst, node.Name()), payload); err != nil {
			return fmt.Errorf("store join input: %w", err)
		}
	}
	arrived, err := r.arrive(ctx, joinInst, node.Name(), marker)
	if err != nil {
		return fmt.Errorf("record join arrival: %w", err)
	}
	if arrived < c.InDegree() {
		return nil
	}
	return r.emit(ctx, target, joinInst, nil, false)
}

// arrive records the arrival of parent at join instance joinInst (with its
// data marker) and returns how many parents have arrived, in one step.
func (r *run) arrive(ctx context.Context, joinInst, parent string, marker []byte) (int, error) {
	res, err := r.e.txn(ctx, sdk.TxnCreate(r.k.join(joinInst, parent), marker, r.e.o.RequestTTL), sdk.TxnCount(r.k.joins(joinInst)))
	if err != nil {
		return 0, err
	}
	return res[1].Count, nil
}

// emit creates the pending record of the target instance and forwards a
// hop to it. Exactly one caller creates the record; the others (duplicates)
// do nothing, unless this delivery is recovering, in which case the hop is
// sent again (the receiver deduplicates).
func (r *run) emit(ctx context.Context, target []Frame, join string, data []byte, noData bool) error {
	inst := instanceID(target)
	var (
		nver int64
		send bool
	)
	if c := r.reservations[inst]; c != nil {
		nver, send = c.version, c.sendable
		c.sent = send || r.recovering
	} else {
		var created bool
		var err error
		nver, created, err = r.e.o.StateStore.Create(ctx, r.k.node(inst), pendingRecord(), r.e.o.RequestTTL)
		if err != nil {
			return fmt.Errorf("create node record %s: %w", inst, err)
		}
		send = created
	}
	if !send && !r.recovering {
		return nil
	}
	env := &Envelope{
		Version: EnvelopeVersion, Flow: r.e.o.Flow, RequestID: r.reqID, DefHash: r.e.hash,
		HopID: hopID(r.reqID, inst), Cursor: target, NodeVersion: nver, Join: join, NoData: noData,
		Query: r.env.Query, CallbackURL: r.env.CallbackURL, IssuedAt: r.e.o.Now(),
	}
	if len(r.trace) > 0 {
		env.Trace = make(map[string]string, len(r.trace)+2)
		for k, v := range r.trace {
			env.Trace[k] = v
		}
	}
	if len(data) > r.e.o.InlineLimit {
		ref := "h/" + env.HopID
		if err := r.e.o.DataStore.Put(ctx, r.k.work+ref, data); err != nil {
			return fmt.Errorf("store hop input: %w", err)
		}
		env.DataRef = ref
	} else {
		env.Data = data
	}
	r.e.obs.HopEmitted(ctx, env)
	sealed, err := r.e.o.Signer.Seal(env)
	if err != nil {
		return err
	}
	if err := r.e.o.Transport.Send(ctx, r.reqID, sealed); err != nil {
		// Give the child back so a retry of this hop sends it again.
		_ = r.e.o.StateStore.Delete(ctx, r.k.node(inst))
		return fmt.Errorf("%w to %s: %w", ErrHopNotSent, inst, err)
	}
	return nil
}
