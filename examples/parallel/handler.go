// Package function is the "parallel" example: one input fans out to three
// functions that run in parallel, and an aggregator joins their results.
package function

import (
	"encoding/json"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define sends the text to upper, reverse and wordcount in parallel and
// returns their results as one JSON object.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("input").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Node("upper").Apply("upper")
	dag.Node("reverse").Apply("reverse")
	dag.Node("count").Apply("wordcount")
	// The join node's aggregator receives each predecessor's output keyed by
	// predecessor name.
	dag.Node("collect", faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
		out := make(map[string]string, len(results))
		for k, v := range results {
			out[k] = string(v)
		}
		return json.Marshal(out)
	}))
	for _, n := range []string{"upper", "reverse", "count"} {
		dag.Edge("input", n)
		dag.Edge(n, "collect")
	}
	return nil
}
