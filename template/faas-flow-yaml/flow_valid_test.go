package main

import (
	"context"
	"testing"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// TestFlowFileIsValid parses the handler's flow file and defines it, as the
// function does at start, and fails the build when either is refused.
// (This file is part of the faas-flow-yaml template and comes back in
// every build.)
func TestFlowFileIsValid(t *testing.T) {
	def, err := load()
	if err != nil {
		t.Fatalf("the flow file is refused:\n%v", err)
	}
	flow := faasflow.NewWorkflow()
	if err := def.Define(flow, faasflow.NewContext(context.Background(), "test", "test", nil, nil)); err != nil {
		t.Fatalf("Define: %v", err)
	}
	if err := flow.Validate(); err != nil {
		t.Fatalf("the flow definition is invalid:\n%v", err)
	}
}
