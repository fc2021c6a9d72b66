// Package function is the in-process benchmark fan-out: one foreach node
// starts 100 branches, each changing the data in the flow's own process
// (Modify) instead of calling a function, and an aggregator joins them. Set
// against the echo fan-out, it shows what the orchestration costs alone.
package function

import (
	"fmt"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Branches is the fan-out width.
const Branches = 100

// Define builds split -> foreach(100 x pass-through) -> count.
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
	each.Node("work").Modify(func(in []byte) ([]byte, error) { return in, nil })
	return nil
}
