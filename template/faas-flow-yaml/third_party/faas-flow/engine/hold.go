package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// hold is a delivery's claim on a node record: the record as the delivery
// last wrote it, its version, and the heartbeat that renews the record's
// lease every Lease/3 while the delivery works, so that a live delivery
// keeps its node however long the node takes and a dead one loses it Lease
// after its last renewal. Every write of the record during the delivery
// goes through the hold, which keeps the version current.
type hold struct {
	e   *Engine
	key string
	// lost cancels the context of the node's work when a renewal finds the
	// record taken over (or gone): the work is no longer this delivery's.
	lost context.CancelFunc

	mu      sync.Mutex
	rec     *nodeRecord
	ver     int64
	timer   *time.Timer
	stopped bool
}

// newHold starts the heartbeat of the record rec at version ver, claimed by
// this delivery, and returns the context the node's work runs in.
func (e *Engine) newHold(ctx context.Context, key string, rec *nodeRecord, ver int64) (*hold, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	h := &hold{e: e, key: key, lost: cancel, rec: rec, ver: ver}
	h.timer = time.AfterFunc(e.o.Lease/3, h.renew)
	return h, ctx
}

// renew extends the lease; the heartbeat runs it.
func (h *hold) renew() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	rec := *h.rec
	rec.LeaseUntil = h.e.o.Now().Add(h.e.o.Lease)
	ctx, cancel := context.WithTimeout(context.Background(), h.e.o.Lease/3)
	ver, ok, err := h.e.o.StateStore.CompareAndSwap(ctx, h.key, h.ver, rec.encode(), h.e.o.RequestTTL)
	cancel()
	switch {
	case err != nil:
		// The store is unavailable: try again soon; the lease may lapse.
		h.e.log.Warn("renewing a node's lease failed", "key", h.key, "err", err)
	case !ok:
		h.e.log.Warn("node taken over by another delivery while it ran", "key", h.key)
		h.stopped = true
		h.lost()
		return
	default:
		h.rec.LeaseUntil, h.ver = rec.LeaseUntil, ver
	}
	h.timer.Reset(h.e.o.Lease / 3)
}

// update writes change of the record under the hold.
func (h *hold) update(ctx context.Context, change func(*nodeRecord)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, out, err := h.txnLocked(ctx, change, nil)
	if err != nil {
		return fmt.Errorf("update node record: %w", err)
	}
	if out != written {
		return fmt.Errorf("%w: %s was taken over by another delivery", ErrHopInProgress, h.key)
	}
	return nil
}

// outcome is what became of a transaction guarded by the hold.
type outcome int

const (
	written   outcome = iota // every write happened
	conflict                 // another swap in it did not match: nothing was written
	takenOver                // the record is no longer this delivery's: nothing was written
)

// txn applies ops in one transaction led by a swap of the record to what
// change makes of it (change nil: the record as it is, which only checks
// that the hold still holds). It returns the results of ops.
func (h *hold) txn(ctx context.Context, change func(*nodeRecord), ops ...sdk.TxnOp) ([]sdk.TxnResult, outcome, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.txnLocked(ctx, change, ops)
}

// finish is txn for the delivery's last write of the record: the heartbeat
// stops first, so that no renewal follows the final status.
func (h *hold) finish(ctx context.Context, change func(*nodeRecord), ops ...sdk.TxnOp) ([]sdk.TxnResult, outcome, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.halt()
	return h.txnLocked(ctx, change, ops)
}

// txnLocked runs the guarded transaction; a read of the record at its end
// tells a record taken over from another swap that did not match. Callers
// hold mu.
func (h *hold) txnLocked(ctx context.Context, change func(*nodeRecord), ops []sdk.TxnOp) ([]sdk.TxnResult, outcome, error) {
	rec := *h.rec
	if change != nil {
		change(&rec)
	}
	rec.Touched = h.e.o.Now()
	swap := sdk.TxnSwap(h.key, h.ver, rec.encode(), h.e.o.RequestTTL)
	all := make([]sdk.TxnOp, 0, len(ops)+2)
	at := 0 // where the swap goes
	if h.e.tx == nil {
		// One key at a time: the other writes go first, so that a crash
		// between leaves them (records holding their hops, which the
		// reconciler sends) and the node still held, never the node ended
		// and what it started lost. A takeover meanwhile writes the same.
		at = len(ops)
		all = append(all, ops...)
		all = append(all, swap)
	} else {
		all = append(all, swap)
		all = append(all, ops...)
	}
	// With another swap in the transaction, a failed one can be either:
	// a read of the record at the end tells them apart.
	reads := 0
	if otherSwap(ops) {
		all, reads = append(all, sdk.TxnGet(h.key)), 1
	}
	out, err := h.e.txn(ctx, all...)
	if err != nil {
		return nil, conflict, err
	}
	res := append(append([]sdk.TxnResult(nil), out[:at]...), out[at+1:len(out)-reads]...)
	switch {
	case out[at].OK:
		*h.rec, h.ver = rec, out[at].Version
		return res, written, nil
	case reads == 0 || out[len(out)-1].Version != h.ver:
		return res, takenOver, nil
	}
	return res, conflict, nil
}

// otherSwap reports whether ops hold a swap.
func otherSwap(ops []sdk.TxnOp) bool {
	for _, op := range ops {
		if op.Kind == sdk.TxnKindSwap {
			return true
		}
	}
	return false
}

// stop ends the heartbeat, waiting for a renewal in progress, when the
// delivery leaves the node without a final write (it failed to reach the
// store, or lost the node): the lease then runs out.
func (h *hold) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.halt()
}

// halt stops the heartbeat and releases the work context. Callers hold mu.
func (h *hold) halt() {
	h.stopped = true
	h.timer.Stop()
	h.lost()
}

// record returns a copy of the record as this delivery last wrote it.
func (h *hold) record() nodeRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return *h.rec
}
