// Package function is a fan-out/fan-in flow for the end-to-end tests of lost
// hops and outages: a foreach over the comma-separated items of the input
// (each branch upper-cases its item), joined with a parallel count of the
// items, then wrapped.
package function

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds split -> (each item: up) + count -> join -> wrap.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("split").Modify(func(in []byte) ([]byte, error) { return in, nil })
	each := dag.ForEachBranch("each", func(in []byte) map[string][]byte {
		out := map[string][]byte{}
		for _, item := range strings.Split(string(in), ",") {
			if item != "" {
				out[item] = []byte(item)
			}
		}
		return out
	}, faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = string(m[k])
		}
		return []byte(strings.Join(parts, "+")), nil
	}))
	each.Node("up").Modify(func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil })
	dag.Node("count").Modify(func(in []byte) ([]byte, error) {
		return []byte(fmt.Sprint(len(strings.Split(string(in), ",")))), nil
	})
	dag.Node("join", faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
		return []byte(string(m["each"]) + "#" + string(m["count"])), nil
	}))
	dag.Node("wrap").Modify(func(in []byte) ([]byte, error) { return append(append([]byte("<"), in...), '>'), nil })
	dag.Edge("split", "each")
	dag.Edge("split", "count")
	dag.Edge("each", "join")
	dag.Edge("count", "join")
	dag.Edge("join", "wrap")
	return nil
}
