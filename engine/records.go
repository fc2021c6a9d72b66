package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Request states.
const (
	StateRunning   = "running"
	StatePaused    = "paused"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateStopped   = "stopped"
)

// Node states.
const (
	NodePending = "pending" // its hop was written and sent, not yet received
	NodeRunning = "running" // a delivery holds the lease
	NodeWaiting = "waiting" // dynamic node: branches are running
	// NodeCompleting: dynamic node whose branches have all finished; a
	// delivery holds the lease to aggregate their results and go on.
	NodeCompleting = "completing"
	NodeSucceeded  = "succeeded" // finished, successors written
	NodeFailed     = "failed"
	NodeCancelled  = "cancelled" // request ended before the node ran
)

func terminalRequest(s string) bool {
	return s == StateSucceeded || s == StateFailed || s == StateStopped
}

func nodeInFlight(s string) bool {
	return s == NodePending || s == NodeRunning || s == NodeCompleting
}

// RequestRecord is the persistent record of one request, returned by
// Engine.State.
type RequestRecord struct {
	ID   string `json:"id"`
	Flow string `json:"flow"`
	// Incarnation is new each time the request id is used; every hop of
	// the request carries it, and a hop of another incarnation is dropped.
	Incarnation string     `json:"incarnation"`
	DefHash     string     `json:"def_hash"`
	State       string     `json:"state"`
	Created     time.Time  `json:"created"`
	Updated     time.Time  `json:"updated"`
	Ended       *time.Time `json:"ended,omitempty"`
	Query       string     `json:"query,omitempty"`
	CallbackURL string     `json:"callback_url,omitempty"`
	Error       string     `json:"error,omitempty"`
	Result      []byte     `json:"result,omitempty"`
	ResultRef   string     `json:"result_ref,omitempty"`
	Cleaned     bool       `json:"cleaned,omitempty"`
	// Redrives counts the times the request was redriven (see Redrive),
	// and Earlier keeps, by node, the runs the redrives reset.
	Redrives int                     `json:"redrives,omitempty"`
	Earlier  map[string][]NodeStatus `json:"earlier,omitempty"`
	// Finalizing is set by the write that ends the request and cleared once
	// its handlers (OnFailure, whose output becomes a failed request's
	// result, and Finally) have run; the reconciler runs them for a request
	// whose ending process died first. Result of a failed request waits for
	// it to clear.
	Finalizing bool `json:"finalizing,omitempty"`
	// DrainWanted is set by a node that found every node done while the
	// handlers still ran, for the process that records them to drain the
	// request afterwards.
	DrainWanted bool                  `json:"drain_wanted,omitempty"`
	Trace       map[string]string     `json:"trace,omitempty"`
	Nodes       map[string]NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is the status of one node instance.
type NodeStatus struct {
	Status   string     `json:"status"`
	Started  *time.Time `json:"started,omitempty"`
	Ended    *time.Time `json:"ended,omitempty"`
	Attempts int        `json:"attempts,omitempty"`
	Error    string     `json:"error,omitempty"`
	// Redelivered counts the times the reconciler sent the node's hop
	// again because it stalled.
	Redelivered int `json:"redelivered,omitempty"`
	// Faults are the branches of a foreach node that failed within its
	// tolerated failures.
	Faults []sdk.Fault `json:"faults,omitempty"`
	// Earlier are the node's runs before the redrives of its request,
	// oldest first (from the request record; see RequestRecord.Earlier).
	Earlier []NodeStatus `json:"earlier,omitempty"`
}

// nodeRecord is the StateStore record of one node instance.
type nodeRecord struct {
	NodeStatus
	Hop        string    `json:"hop,omitempty"` // id of the hop holding the lease
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Options    []string  `json:"options,omitempty"` // dynamic: chosen branch keys
	// Launched is how many branches a dynamic node has launched so far.
	Launched int `json:"launched,omitempty"`
	// Send is the hop that starts (or, for a completing node, completes)
	// the node, kept while the node is in flight so that the reconciler can
	// send it again when it stalls: the outbox of the hop that created the
	// record. It is dropped when the node ends.
	Send *Envelope `json:"send,omitempty"`
	// Touched is when the engine last wrote the record, and Sent when the
	// record's hop was last sent.
	Touched time.Time `json:"touched,omitzero"`
	Sent    time.Time `json:"sent,omitzero"`
}

// encode is the record's StateStore value.
func (n *nodeRecord) encode() []byte {
	b, _ := json.Marshal(n)
	return b
}

// decodeNode decodes a node record read from the StateStore.
func decodeNode(inst string, b []byte) (*nodeRecord, error) {
	var rec nodeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("corrupt node record %s: %w", inst, err)
	}
	return &rec, nil
}

// ended marks the record final with status: its lease is dropped, and its
// hop too unless the node did not succeed (a redrive sends it again).
func (n *nodeRecord) ended(status string, at time.Time) {
	n.Status, n.Ended, n.Hop, n.LeaseUntil, n.Touched = status, &at, "", time.Time{}, at
	if status == NodeSucceeded {
		n.Send = nil
	}
}

// loadRecord reads a request record.
func (e *Engine) loadRecord(ctx context.Context, k keys) (*RequestRecord, int64, error) {
	b, ver, err := e.loadRecordRaw(ctx, k)
	if err != nil {
		return nil, 0, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return nil, 0, err
	}
	return rec, ver, nil
}

// withEarlier puts the runs of each node before the request's redrives in
// its status.
func (r *RequestRecord) withEarlier() {
	for inst, runs := range r.Earlier {
		if st, ok := r.Nodes[inst]; ok {
			st.Earlier = runs
			r.Nodes[inst] = st
		}
	}
}

// decodeRecord decodes a request record read from the StateStore.
func decodeRecord(b []byte) (*RequestRecord, error) {
	var rec RequestRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("corrupt request record: %w", err)
	}
	return &rec, nil
}

// loadRecordRaw reads the encoded request record.
func (e *Engine) loadRecordRaw(ctx context.Context, k keys) ([]byte, int64, error) {
	b, ver, err := e.o.StateStore.Get(ctx, k.record)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, 0, ErrUnknownRequest
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read request record: %w", err)
	}
	return b, ver, nil
}

// storedRecord is an encoded request record and its version as read.
type storedRecord struct {
	value   []byte
	version int64
}

// updateRecord applies change to the request record with a CAS loop. change
// returns false to leave the record as it is.
func (e *Engine) updateRecord(ctx context.Context, k keys, ttl time.Duration, change func(*RequestRecord) bool) (*RequestRecord, bool, error) {
	return e.updateRecordFrom(ctx, k, nil, ttl, change)
}

// updateRecordFrom is updateRecord starting from a copy of the record read
// earlier (nil: none), saving the read when nothing has changed it since.
func (e *Engine) updateRecordFrom(ctx context.Context, k keys, known *storedRecord, ttl time.Duration, change func(*RequestRecord) bool) (*RequestRecord, bool, error) {
	for {
		var (
			rec   *RequestRecord
			ver   int64
			err   error
			stale bool // rec may be out of date: only a swap can tell
		)
		if known != nil {
			rec, ver, stale = &RequestRecord{}, known.version, true
			if json.Unmarshal(known.value, rec) != nil {
				rec, ver, err = e.loadRecord(ctx, k)
				stale = false
			}
			known = nil
		} else {
			rec, ver, err = e.loadRecord(ctx, k)
		}
		if err != nil {
			return nil, false, err
		}
		if !change(rec) {
			if stale {
				continue // decide on the current record
			}
			return rec, false, nil
		}
		rec.Updated = e.o.Now()
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, false, err
		}
		t := ttl
		if t == 0 {
			t = e.o.RequestTTL
		}
		_, ok, err := e.o.StateStore.CompareAndSwap(ctx, k.record, ver, b, t)
		if err != nil {
			return nil, false, fmt.Errorf("update request record: %w", err)
		}
		if ok {
			return rec, true, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

func (e *Engine) retention() time.Duration {
	if e.o.Retention < 0 {
		return time.Second
	}
	return e.o.Retention
}

// redrivable reports whether an ended request in state keeps what a
// redrive needs.
func (e *Engine) redrivable(state string) bool {
	return e.o.RedriveRetention > 0 && (state == StateFailed || state == StateStopped)
}

// retentionOf is how long the record of a request that ended in state is
// kept: the retention, or the redrive retention if longer for a request
// that can be redriven.
func (e *Engine) retentionOf(state string) time.Duration {
	if e.redrivable(state) {
		return max(e.retention(), e.o.RedriveRetention)
	}
	return e.retention()
}
