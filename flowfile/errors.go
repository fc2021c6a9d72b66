package flowfile

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every *Error: the file is not a flow this
// package can run.
var ErrInvalid = errors.New("invalid flow file")

// Error is a mistake in a flow file, at a line and column, in a field named
// by its path from the top of the file (for example
// "States.Check.Choices[0].Next").
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	field := e.Field
	if field == "" {
		field = "(top)"
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, field, e.Msg)
}

// Unwrap lets errors.Is match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Names of the errors a flow raises, as the Amazon States Language names
// them. Retry's ErrorEquals and a Fail state's Error use them.
const (
	ErrorAll             = "States.ALL"
	ErrorTaskFailed      = "States.TaskFailed"
	ErrorTimeout         = "States.Timeout"
	ErrorRuntime         = "States.Runtime"
	ErrorNoChoiceMatched = "States.NoChoiceMatched"
)

// StateError is the error a state raises: a Fail state's Error and Cause,
// or a runtime error of the flow itself (ErrorRuntime: a path that selects
// nothing, items that are not an array; ErrorNoChoiceMatched). It is
// wrapped with sdk.Permanent, so that no retry policy retries it.
type StateError struct {
	State string
	Name  string // Error
	Cause string
}

func (e *StateError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("state %s failed", e.State)
	}
	if e.Cause == "" {
		return fmt.Sprintf("state %s: %s", e.State, e.Name)
	}
	return fmt.Sprintf("state %s: %s: %s", e.State, e.Name, e.Cause)
}
