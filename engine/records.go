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
	NodePending = "pending" // hop emitted, not yet received
	NodeRunning = "running" // a delivery holds the lease
	NodeWaiting = "waiting" // dynamic node: branches are running
	// NodeCompleting: dynamic node whose branches have all finished; a
	// delivery holds the lease to aggregate their results and go on.
	NodeCompleting = "completing"
	NodeSucceeded  = "succeeded" // finished, successors emitted
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
	ID          string     `json:"id"`
	Flow        string     `json:"flow"`
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
	// Finalizing is set between a request's move to failed and the storing
	// of its OnFailure output; Result waits for it to clear.
	Finalizing bool                  `json:"finalizing,omitempty"`
	Trace      map[string]string     `json:"trace,omitempty"`
	Nodes      map[string]NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is the status of one node instance.
type NodeStatus struct {
	Status   string     `json:"status"`
	Started  *time.Time `json:"started,omitempty"`
	Ended    *time.Time `json:"ended,omitempty"`
	Attempts int        `json:"attempts,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// nodeRecord is the StateStore record of one node instance.
type nodeRecord struct {
	NodeStatus
	Hop        string    `json:"hop,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitempty"`
	Options    []string  `json:"options,omitempty"` // dynamic: chosen branch keys
	Launched   int       `json:"launched,omitempty"`
}

// loadRecord reads a request record.
func (e *Engine) loadRecord(ctx context.Context, k keys) (*RequestRecord, int64, error) {
	b, ver, err := e.o.StateStore.Get(ctx, k.record)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, 0, ErrUnknownRequest
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read request record: %w", err)
	}
	var rec RequestRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, 0, fmt.Errorf("corrupt request record: %w", err)
	}
	return &rec, ver, nil
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
