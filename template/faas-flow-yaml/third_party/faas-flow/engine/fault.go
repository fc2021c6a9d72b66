package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/faas-flow/faas-flow/sdk"
)

// Branches that fail within a foreach node's tolerated failures
// (sdk.ToleratedFailures, sdk.ToleratedFailurePercent) do not fail the
// request: the failing node ends failed, and the branch's result marker is
// a fault record (markFault, then the JSON of an sdk.Fault) that counts
// towards the node's completion like a result. When every branch has
// finished, the node fails if the faults are over its bound, and its
// aggregator otherwise gets the other results, with the faults in its
// Context (Faults).

// markFault is the first byte of a branch marker that records a fault.
const markFault byte = 'f'

func isFault(marker []byte) bool { return len(marker) > 0 && marker[0] == markFault }

// faultsOf decodes the fault records among the markers of keys, in key
// order.
func faultsOf(keys []string, marker func(key string) []byte) []sdk.Fault {
	var out []sdk.Fault
	for _, k := range keys {
		m := marker(k)
		if !isFault(m) {
			continue
		}
		var f sdk.Fault
		if json.Unmarshal(m[1:], &f) == nil {
			out = append(out, f)
		}
	}
	return out
}

// tolerated returns a *sdk.NodeError wrapping sdk.ErrTooManyFaults when
// faults (of total branches) are more than node tolerates.
func tolerated(node *sdk.Node, inst string, total int, faults []sdk.Fault) error {
	n := len(faults)
	if n == 0 {
		return nil
	}
	count, pct := node.ToleratedFailures()
	if (count > 0 || pct > 0) && (count == 0 || n <= count) && (pct == 0 || float64(n)*100 <= pct*float64(total)) {
		return nil
	}
	bound := fmt.Sprintf("%d", count)
	switch {
	case count > 0 && pct > 0:
		bound = fmt.Sprintf("%d and %g%%", count, pct)
	case pct > 0:
		bound = fmt.Sprintf("%g%%", pct)
	}
	return &sdk.NodeError{Node: inst, Err: fmt.Errorf("%w: %d of %d branches failed, %s tolerated (first: %s: %s)",
		sdk.ErrTooManyFaults, n, total, bound, faults[0].Key, faults[0].Error)}
}

// tolerantBranch returns the nearest foreach node around the node the run
// holds that tolerates failed branches: its cursor, the branch key, and the
// number of branches it started (0 if unknown). nil when there is none.
func (r *run) tolerantBranch() (*sdk.Node, []Frame, string, int) {
	c := r.env.Cursor
	if instanceID(c) != r.inst {
		var err error
		if c, err = parseInstance(r.inst); err != nil {
			return nil, nil, "", 0
		}
	}
	for i := len(c) - 2; i >= 0; i-- {
		if c[i].Key == "" {
			continue
		}
		cursor := append(append([]Frame(nil), c[:i]...), Frame{Node: c[i].Node})
		dyn, err := r.resolve(cursor)
		if err != nil {
			return nil, nil, "", 0
		}
		if dyn.Kind() == sdk.KindForEach && dyn.ToleratesFailures() {
			return dyn, cursor, c[i].Key, c[i].Branches
		}
	}
	return nil, nil, "", 0
}

// branchFault ends the node the run holds failed with cause, and records a
// fault for its branch of the tolerant foreach dyn (at cursor) in place of
// the branch's result. The request goes on.
func (r *run) branchFault(ctx context.Context, dyn *sdk.Node, cursor []Frame, key string, branches int, cause error) error {
	fault := sdk.Fault{Key: key, Node: r.inst, Error: cause.Error(), Attempts: r.attempts}
	if dyn.BranchDataForwarded() {
		fault.Input = strings.TrimPrefix(r.k.branchInput(instanceID(cursor), key), r.k.work)
	}
	b, err := json.Marshal(fault)
	if err != nil {
		return errors.Join(cause, err)
	}
	r.dropReservations(ctx) // while the claim still holds
	r.out, r.early = outbox{}, nil
	if err := r.recordBranch(ctx, cursor, dyn, key, branches, append([]byte{markFault}, b...)); err != nil {
		return r.release(ctx, errors.Join(cause, err))
	}
	err = r.commit(ctx, func(n *nodeRecord) {
		n.ended(NodeFailed, r.endTime)
		n.Error, n.Attempts = cause.Error(), max(n.Attempts, r.attempts)
	})
	if err != nil {
		return errors.Join(cause, err)
	}
	r.e.log.Info("branch failed; the foreach tolerates it", "request", r.reqID, "node", r.inst, "key", key, "err", cause)
	return nil
}
