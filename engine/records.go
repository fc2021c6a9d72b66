package engine

import "time"

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
