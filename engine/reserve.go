package engine

import (
	"context"
	"encoding/json"

	"github.com/faas-flow/faas-flow/sdk"
)

// Reservations: the node records of the children a hop will start are
// created ahead of their emit, in a transaction the hop makes anyway (the
// claim; the fork's creates together), instead of one round trip each right
// before the hop is sent. A reserved record is a plain pending record; what
// makes it safe is that emit sends it only with the version the reservation
// saw pending, and that a run which ends without sending a record it created
// deletes it again (dropUnsent), so that no pending record without a hop is
// left to hold up the request's drain.

// reservation is one child record created (or found) ahead of its emit.
type reservation struct {
	key     string // StateStore key of the node record
	version int64  // the pending version to send the hop with; 0 if none
	// sendable: the record is pending, so the hop may be sent with version
	// (a duplicate loses the claim). created: this run created it.
	sendable, created bool
	sent              bool // emit sent the hop (set by that emit alone)
}

// pendingRecord is the value of a node record that waits for its hop.
func pendingRecord() []byte {
	b, _ := json.Marshal(&nodeRecord{NodeStatus: NodeStatus{Status: NodePending}})
	return b
}

// maxClaimReservations bounds the child records a claim transaction
// creates, well under etcd's default limit of 128 operations per
// transaction; a node with more children creates them at emit instead.
const maxClaimReservations = 32

// staticChildren returns the instances the static node at cursor starts
// when it succeeds: its children with no other parent (complete emits to
// each of them; a join is started by its last arrival instead). Dynamic
// nodes start their branches in fork. It returns none for a node with more
// than maxClaimReservations children.
func staticChildren(cursor []Frame, node *sdk.Node) []string {
	if node.IsDynamic() || len(node.Children()) > maxClaimReservations {
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

// reserveOps returns the creates of the node records of insts.
func (r *run) reserveOps(insts []string) []sdk.TxnOp {
	ops := make([]sdk.TxnOp, len(insts))
	for i, inst := range insts {
		ops[i] = sdk.TxnCreate(r.k.node(inst), pendingRecord(), r.e.o.RequestTTL)
	}
	return ops
}

// reserved records the results of reserveOps(insts). A record another run
// created is sendable only while it is still pending.
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

// reserve creates the node records of insts in as few transactions as the
// store allows (etcd caps the operations of one transaction).
func (r *run) reserve(ctx context.Context, insts []string) error {
	const perTxn = 64
	for len(insts) > 0 {
		n := min(len(insts), perTxn)
		res, err := r.e.txn(ctx, r.reserveOps(insts[:n])...)
		if err != nil {
			return err
		}
		r.reserved(insts[:n], res)
		insts = insts[n:]
	}
	return nil
}

// dropUnsent deletes the records this run reserved by creating them and did
// not send a hop for. Called when the run ends without routing its output
// (failure, release, a paused or ended request); the emits are over by then.
func (r *run) dropUnsent(ctx context.Context) {
	for _, c := range r.reservations {
		if c.created && !c.sent {
			_ = r.e.o.StateStore.Delete(ctx, c.key)
			c.created = false
		}
	}
}
