// Package function is the in-process benchmark chain: ten nodes in a row,
// each changing the data in the flow's own process (Modify) instead of
// calling a function, so a request costs only the orchestration: ten async
// hops and their state, without the worker calls of the echo chain.
package function

import (
	"fmt"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Nodes is the length of the chain.
const Nodes = 10

// Define builds n0 -> n1 -> ... -> n9, each passing its input on.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	for i := 0; i < Nodes; i++ {
		dag.Node(fmt.Sprintf("n%d", i)).Modify(func(in []byte) ([]byte, error) { return in, nil })
		if i > 0 {
			dag.Edge(fmt.Sprintf("n%d", i-1), fmt.Sprintf("n%d", i))
		}
	}
	return nil
}
