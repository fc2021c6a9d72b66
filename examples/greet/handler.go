// Package function is the "greet" example: a synchronous chain. The flow is a
// single node, so it runs entirely inside the first call and the caller gets
// the result in the response, like a plain function.
package function

import (
	"bytes"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define trims the input, asks the hello function for a greeting and
// decorates it.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	flow.SyncNode().
		Modify(func(in []byte) ([]byte, error) { return bytes.TrimSpace(in), nil }).
		Apply("hello").
		Modify(func(in []byte) ([]byte, error) { return append(in, " (via faas-flow)"...), nil })
	return nil
}
