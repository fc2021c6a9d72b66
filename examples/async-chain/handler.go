// Package function is the "async-chain" example: three nodes joined by edges.
// Each node runs in its own invocation; the flow re-invokes itself through the
// gateway's async endpoint with a signed hop between nodes.
package function

import (
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define upper-cases the input, reverses it, then counts its words, each in
// a separate node (and invocation).
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("shout").Apply("upper")
	dag.Node("mirror").Apply("reverse")
	dag.Node("report").Modify(func(in []byte) ([]byte, error) {
		return append([]byte("mirrored: "), in...), nil
	})
	dag.Edge("shout", "mirror")
	dag.Edge("mirror", "report")
	return nil
}
