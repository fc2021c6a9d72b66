package engine

import (
	"errors"
	"fmt"
)

// Errors returned by the engine. Callers branch on them with errors.Is; the
// runtime maps them to HTTP statuses (see runtime.StatusOf).
var (
	// ErrConfig reports invalid engine options.
	ErrConfig = errors.New("invalid engine configuration")
	// ErrUnknownRequest: no record of the request (never started, or its
	// retention has passed). Never reported as "finished".
	ErrUnknownRequest = errors.New("unknown request")
	// ErrRequestExists: a caller-supplied request id is already in use.
	ErrRequestExists = errors.New("request id already in use")
	// ErrWrongState: the request is not in a state that allows the call
	// (pause of a finished request, a hop of a stopped request, ...).
	ErrWrongState = errors.New("request is not in a state that allows this")
	// ErrStaleHop: the hop was signed longer ago than MaxHopAge.
	ErrStaleHop = errors.New("hop is too old")
	// ErrWrongFlow: the hop names another flow.
	ErrWrongFlow = errors.New("hop belongs to another flow")
	// ErrDefinitionChanged: the hop was emitted by a flow definition with a
	// different structure; the request is failed.
	ErrDefinitionChanged = errors.New("flow definition changed while the request was running")
	// ErrHopInProgress: another delivery of the same hop holds the node's
	// lease. Transports retry later.
	ErrHopInProgress = errors.New("hop is being processed by another delivery")
	// ErrBadRequestID: a caller-supplied request id has forbidden characters.
	ErrBadRequestID = errors.New("invalid request id")
	// ErrNodeFailed wraps the error of a node that failed the request.
	ErrNodeFailed = errors.New("node failed")
	// ErrPanic wraps a panic recovered from user code.
	ErrPanic = errors.New("panic in flow code")
	// ErrTimeout reports a node or operation that exceeded its timeout.
	ErrTimeout = errors.New("timed out")
	// ErrNotFinished: the result of a running request was asked for.
	ErrNotFinished = errors.New("request has not finished")
	// ErrInvalidCursor: a hop's cursor names no node of the definition.
	ErrInvalidCursor = errors.New("hop cursor names no node of this flow")
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

// PanicError is a panic recovered from user code.
type PanicError struct {
	Where string
	Value interface{}
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic in %s: %v", e.Where, e.Value) }

// Unwrap lets errors.Is match ErrPanic.
func (e *PanicError) Unwrap() error { return ErrPanic }
