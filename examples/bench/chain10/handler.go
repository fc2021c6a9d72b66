// Package function is the benchmark chain: ten nodes in a row, each calling
// the echo function once, so every node costs one async hop.
package function

import (
	"fmt"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Nodes is the length of the chain.
const Nodes = 10

// Define builds n0 -> n1 -> ... -> n9, each applying echo.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	for i := 0; i < Nodes; i++ {
		dag.Node(fmt.Sprintf("n%d", i)).Apply("echo")
		if i > 0 {
			dag.Edge(fmt.Sprintf("n%d", i-1), fmt.Sprintf("n%d", i))
		}
	}
	return nil
}
