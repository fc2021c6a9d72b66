// Package function is the benchmark fan-out: one foreach node starts 100
// branches, each calling the echo function once, and an aggregator joins
// them.
package function

import (
	"fmt"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Branches is the fan-out width.
const Branches = 100

// Define builds split -> foreach(100 x echo) -> count.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	each := dag.ForEachBranch("fan", func(in []byte) map[string][]byte {
		out := make(map[string][]byte, Branches)
		for i := 0; i < Branches; i++ {
			out[fmt.Sprintf("b%03d", i)] = in
		}
		return out
	}, faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
		return []byte(fmt.Sprintf("%d branches", len(results))), nil
	}))
	each.Node("work").Apply("echo")
	return nil
}
