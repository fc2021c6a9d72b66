// Package function is a flow for the end-to-end tests of the request log
// and of the control routes' login: its middle node fails its first
// attempt in each invocation and is retried, and its last node takes
// long enough for a test to pause the request while it runs.
package function

import (
	"errors"
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds a -> b (fails once, retried) -> c (2 s).
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	tries := 0 // Define runs once per invocation; b's retries run in it
	dag.Node("a").Modify(func(in []byte) ([]byte, error) { return append(in, 'a'), nil })
	dag.Node("b", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond})).
		Modify(func(in []byte) ([]byte, error) {
			if tries++; tries == 1 {
				return nil, errors.New("b fails its first attempt")
			}
			return append(in, 'b'), nil
		})
	dag.Node("c").Modify(func(in []byte) ([]byte, error) {
		time.Sleep(2 * time.Second)
		return append(in, 'c'), nil
	})
	dag.Edge("a", "b")
	dag.Edge("b", "c")
	return nil
}
