// Package function is a two-node flow for the end-to-end tests of
// completion events and object-triggered requests: a request whose input
// is "fail" fails in its first node; any other ends with its input as its
// result.
package function

import (
	"errors"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds check -> echo.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("check").Modify(func(in []byte) ([]byte, error) {
		if string(in) == "fail" {
			return nil, errors.New("asked to fail")
		}
		return in, nil
	})
	dag.Node("echo").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Edge("check", "echo")
	return nil
}
