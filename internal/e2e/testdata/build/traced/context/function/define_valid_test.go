package function

import (
	"context"
	"testing"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// TestDefineBuildsAValidFlow runs Define once, as the flow function does at
// start, and fails the build when the definition is invalid. (This file is
// part of the faas-flow template and comes back in every build.)
func TestDefineBuildsAValidFlow(t *testing.T) {
	flow := faasflow.NewWorkflow()
	if err := Define(flow, faasflow.NewContext(context.Background(), "test", "test", nil, nil)); err != nil {
		t.Fatalf("Define: %v", err)
	}
	if err := flow.Validate(); err != nil {
		t.Fatalf("the flow definition is invalid:\n%v", err)
	}
}
