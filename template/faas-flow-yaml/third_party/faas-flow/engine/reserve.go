package engine

import (
	"context"
	"encoding/json"

	"github.com/faas-flow/faas-flow/sdk"
)

// Reservations: the records of the children a hop will start are created
// ahead, empty, in the transaction that claims its node (or right after a
// claim that had to read the node first). When the node has run, the hops
// of those children leave at once, before the node's last write, and that
// write stores each hop under o/<instance> (the outbox entry). So a chain
// hop costs no more round trips than before the outbox, a child never
// waits for its parent's last write, and a hop lost on the way is still in
// the outbox. The parent's end time is taken before its children's hops
// leave, so timestamps never overlap. A reservation the run does not send
// (the node failed, was paused, could not route its output) is removed
// again while the claim still holds.

// reservation is one child record created (or found) ahead of its hop.
type reservation struct {
	key     string // StateStore key of the node record
	version int64  // the pending version to send the hop with; 0 if none
	// sendable: the record is pending, so the hop may be sent with version
	// (a copy loses the claim). created: this run created it.
	sendable, created bool
	sent              bool // the run sent its hop
}

// maxReservations bounds the child records a claim creates ahead, well
// under etcd's default limit of 128 operations per transaction; a node
// with more children creates them in its last write instead.
const maxReservations = 32

// staticChildren returns the instances the static node at cursor starts
// when it succeeds: its children with no other parent (a join is started
// by its last arrival instead). Dynamic nodes start their branches in
// fork. None for a node with more than maxReservations children.
func staticChildren(cursor []Frame, node *sdk.Node) []string {
	if node.IsDynamic() || len(node.Children()) > maxReservations {
		return nil
	}
	var out []string
	for _, c := range node.Children() {
		if c.InDegree() == 1 {
			out = append(out, instanceID(leafCursor(cursor[:len(cursor)-1], c)))
		}
	}
	return out
}

// reservedRecord is the value of a reserved node record: pending, its hop
// not written yet.
func (e *Engine) reservedRecord() []byte {
	return (&nodeRecord{NodeStatus: NodeStatus{Status: NodePending}, Touched: e.o.Now()}).encode()
}

// reserveOps returns the creates of the reserved records of insts.
func (r *run) reserveOps(insts []string) []sdk.TxnOp {
	ops := make([]sdk.TxnOp, len(insts))
	for i, inst := range insts {
		ops[i] = sdk.TxnCreate(r.k.node(inst), r.e.reservedRecord(), r.e.o.RequestTTL)
	}
	return ops
}

// reserved records the results of reserveOps(insts). A record another run
// created is sendable only while it is pending.
func (r *run) reserved(insts []string, res []sdk.TxnResult) {
	if len(insts) == 0 {
		return
	}
	if r.reservations == nil {
		r.reservations = make(map[string]*reservation, len(insts))
	}
	for i, inst := range insts {
		c := &reservation{key: r.k.node(inst), created: res[i].OK}
		var rec nodeRecord
		switch {
		case res[i].OK:
			c.sendable, c.version = true, res[i].Version
		case res[i].Version != 0 && json.Unmarshal(res[i].Value, &rec) == nil && rec.Status == NodePending:
			c.sendable, c.version = true, res[i].Version
		}
		r.reservations[inst] = c
	}
}

// reserve creates the reserved records of the children of node (at
// cursor), after a claim that could not do it in its own transaction.
func (r *run) reserve(ctx context.Context, cursor []Frame, node *sdk.Node) error {
	kids := staticChildren(cursor, node)
	if len(kids) == 0 {
		return nil
	}
	res, err := r.e.txn(ctx, r.reserveOps(kids)...)
	if err != nil {
		return err
	}
	r.reserved(kids, res)
	return nil
}

// dropReservations deletes the records this run reserved by creating them
// and did not send a hop for, when it leaves its node without routing its
// output (paused, ended request, released node): nothing is left pending
// without a hop.
func (r *run) dropReservations(ctx context.Context) {
	for _, c := range r.reservations {
		if c.created && !c.sent {
			_ = r.e.o.StateStore.Delete(ctx, c.key)
			c.created = false
		}
	}
}
