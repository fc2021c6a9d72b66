package sdk

import (
	"errors"
	"fmt"
)

// Errors of a node's run. An OnFailure handler, a test or a caller of the
// flow tells them apart with errors.Is and errors.As.
var (
	// ErrNodeFailed is matched by the error of a node that failed its
	// request (a *NodeError).
	ErrNodeFailed = errors.New("node failed")
	// ErrTimeout reports a node or operation that ran past its timeout.
	ErrTimeout = errors.New("timed out")
	// ErrPanic is matched by a panic recovered from flow code (a
	// *PanicError).
	ErrPanic = errors.New("panic in flow code")
)

// NodeError is the error of a node that failed, with its instance id.
type NodeError struct {
	Node     string // instance id, e.g. "split[a]/fetch"
	Attempts int
	Err      error
}

func (e *NodeError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("node %s failed after %d attempts: %v", e.Node, e.Attempts, e.Err)
	}
	return fmt.Sprintf("node %s failed: %v", e.Node, e.Err)
}

// Unwrap returns the cause, and lets errors.Is match ErrNodeFailed.
func (e *NodeError) Unwrap() []error { return []error{ErrNodeFailed, e.Err} }

// PanicError is a panic recovered from flow code: an operation, a
// forwarder, an aggregator, a condition or a handler.
type PanicError struct {
	Where string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic in %s: %v", e.Where, e.Value) }

// Unwrap lets errors.Is match ErrPanic.
func (e *PanicError) Unwrap() error { return ErrPanic }
