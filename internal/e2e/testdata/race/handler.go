// Package function is a three-node flow whose middle node takes a while,
// for the end-to-end test of a hop delivered twice to two replicas: b
// writes "ran b of REQUEST" to stderr each time its code runs, so the test
// counts the runs in the gateway's logs.
package function

import (
	"fmt"
	"os"
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds a -> b (1.5 s) -> c.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	ran := func() { fmt.Fprintf(os.Stderr, "ran %s of %s\n", context.GetNode(), context.GetRequestId()) }
	dag := flow.Dag()
	dag.Node("a").Modify(func(in []byte) ([]byte, error) { ran(); return append(in, 'a'), nil })
	dag.Node("b").Modify(func(in []byte) ([]byte, error) {
		ran()
		time.Sleep(1500 * time.Millisecond)
		return append(in, 'b'), nil
	})
	dag.Node("c").Modify(func(in []byte) ([]byte, error) { ran(); return append(in, 'c'), nil })
	dag.Edge("a", "b")
	dag.Edge("b", "c")
	return nil
}
