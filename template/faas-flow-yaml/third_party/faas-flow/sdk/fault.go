package sdk

import (
	"errors"
	"fmt"
)

// Fault records a branch of a foreach node that failed within the node's
// tolerated failures (ToleratedFailures, ToleratedFailurePercent): the node
// succeeds with the results of the other branches, and its aggregator, the
// state API and a redrive see the fault.
type Fault struct {
	// Key is the branch key: the item the foreach split the input into.
	Key string `json:"key"`
	// Node is the instance id of the node that failed in the branch.
	Node string `json:"node"`
	// Error is the node's error, and Attempts how often it ran.
	Error    string `json:"error"`
	Attempts int    `json:"attempts,omitempty"`
	// Input names where the branch's input is kept; read it with
	// Context.FaultInput.
	Input string `json:"input,omitempty"`
}

// ErrNoFaultInput reports a fault whose input is not (or no longer) kept.
var ErrNoFaultInput = errors.New("fault has no input kept")

// ErrTooManyFaults is matched by the error of a foreach node more of whose
// branches failed than it tolerates.
var ErrTooManyFaults = errors.New("too many branches failed")

// Faults returns the fault records of the foreach node whose aggregator
// runs with this context: its branches that failed within the tolerated
// failures. Empty elsewhere.
func (c *Context) Faults() []Fault { return append([]Fault(nil), c.faults...) }

// SetFaults hands the fault records of a foreach node to its aggregator's
// context (executors call it).
func (c *Context) SetFaults(f []Fault) { c.faults = f }

// FaultInput returns the input of the branch a fault records, the item the
// foreach gave it.
func (c *Context) FaultInput(f Fault) ([]byte, error) {
	if f.Input == "" || c.values == nil {
		return nil, fmt.Errorf("faasflow: fault %q: %w", f.Key, ErrNoFaultInput)
	}
	b, err := c.values.Get(c.Context(), f.Input)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("faasflow: fault %q: %w", f.Key, ErrNoFaultInput)
	}
	return b, err
}
