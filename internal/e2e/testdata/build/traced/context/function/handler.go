// Package function is a branching flow for the tracing end-to-end test: a
// parallel join of a function call and a foreach, then a node that fails on
// request, handled by OnFailure.
package function

import (
	"bytes"
	"errors"
	"sort"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

func joinSorted(in map[string][]byte) ([]byte, error) {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + string(in[k])
	}
	return []byte(strings.Join(parts, ";")), nil
}

// Define: start -> (left: upper, each: foreach reverse) -> join -> check.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("start").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Node("left").Apply("upper")
	each := dag.ForEachBranch("each", func(in []byte) map[string][]byte {
		out := map[string][]byte{}
		for _, p := range strings.Split(string(in), ",") {
			out[p] = []byte(p)
		}
		return out
	}, faasflow.Aggregator(joinSorted))
	each.Node("work").Apply("reverse")
	dag.Node("join", faasflow.Aggregator(joinSorted))
	dag.Node("check").Modify(func(in []byte) ([]byte, error) {
		if bytes.Contains(in, []byte("liaf")) {
			return nil, errors.New("check refused the input")
		}
		return in, nil
	})
	dag.Edge("start", "left")
	dag.Edge("start", "each")
	dag.Edge("left", "join")
	dag.Edge("each", "join")
	dag.Edge("join", "check")
	flow.OnFailure(func(err error) ([]byte, error) { return []byte("handled: " + err.Error()), nil })
	return nil
}
