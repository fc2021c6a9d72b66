// Package function is a three-node flow whose middle node is slow, so an
// end-to-end test can kill the flow's process while a node runs.
package function

import (
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds a -> b (3 s) -> c.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(in []byte) ([]byte, error) { return append(in, 'a'), nil })
	dag.Node("b").Modify(func(in []byte) ([]byte, error) {
		time.Sleep(3 * time.Second)
		return append(in, 'b'), nil
	})
	dag.Node("c").Modify(func(in []byte) ([]byte, error) { return append(in, 'c'), nil })
	dag.Edge("a", "b")
	dag.Edge("b", "c")
	return nil
}
