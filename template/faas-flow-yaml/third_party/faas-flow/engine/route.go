package engine

import (
	"context"
	"fmt"

	"github.com/faas-flow/faas-flow/sdk"
)

// complete routes the output of a finished node: the hop of each child that
// became ready is staged for the delivery's last write, or, for an end
// node, its DAG completes.
func (r *run) complete(ctx context.Context, cursor []Frame, node *sdk.Node, out []byte) error {
	if children := node.Children(); len(children) > 0 {
		for _, c := range children {
			fwd, data := node.EdgeOptions(c)
			var payload []byte
			if data {
				payload = out
				if fwd != nil {
					var err error
					if payload, err = callForwarder(fwd, out, node.ID()+" -> "+c.Name()); err != nil {
						return err
					}
				}
			}
			if err := r.toChild(ctx, cursor, node, c, payload); err != nil {
				return err
			}
		}
		return nil
	}
	d := node.Dag()
	parent := cursor[:len(cursor)-1]
	if ends := d.Ends(); len(ends) > 1 {
		// Several end nodes: a virtual end joins them without data. The
		// last to arrive completes the DAG; its record is written with the
		// delivery's last write, so that the completion happens once.
		endInst := instanceID(parent) + "/[end]"
		arrived, err := r.arrive(ctx, endInst, node.Name(), nil)
		if err != nil {
			return fmt.Errorf("record end arrival: %w", err)
		}
		if arrived < len(ends) {
			return nil
		}
		done := &nodeRecord{NodeStatus: NodeStatus{Status: NodeSucceeded}}
		r.out.ops = append(r.out.ops, sdk.TxnCreate(r.k.node(endInst), done.encode(), r.e.o.RequestTTL))
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

// toChild stages the hop of child c of node (at cursor), with payload
// (node's output after the edge's forwarder). A join's hop is staged by the
// arrival that completes it.
func (r *run) toChild(ctx context.Context, cursor []Frame, node, c *sdk.Node, payload []byte) error {
	_, data := node.EdgeOptions(c)
	sibling := append(append([]Frame(nil), cursor[:len(cursor)-1]...), Frame{Node: c.Name()})
	target := leafCursor(cursor[:len(cursor)-1], c)
	if c.InDegree() == 1 {
		return r.stageHop(ctx, target, "", payload, !data)
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
	return r.stageHop(ctx, target, joinInst, nil, false)
}

// arrive records the arrival of parent at join instance joinInst (with its
// data marker) and returns how many parents have arrived, in one step. An
// arrival a dead delivery recorded before is found again, so the join's
// hop is staged by whichever delivery of the last parent finishes.
func (r *run) arrive(ctx context.Context, joinInst, parent string, marker []byte) (int, error) {
	res, err := r.e.txn(ctx, sdk.TxnCreate(r.k.join(joinInst, parent), marker, r.e.o.RequestTTL), sdk.TxnCount(r.k.joins(joinInst)))
	if err != nil {
		return 0, err
	}
	return res[1].Count, nil
}
