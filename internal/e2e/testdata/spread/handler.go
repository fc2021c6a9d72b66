// Package function is a fan-out/fan-in flow for the end-to-end tests of
// replicas: a foreach over the comma-separated items of the input (each
// branch upper-cases its item), joined with a parallel count of the items,
// then wrapped. Every node writes "ran NODE of REQUEST" to stderr, so the
// tests see in the gateway's logs which process ran it.
package function

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define builds split -> (each item: up) + count -> join -> wrap.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	ran := func() { fmt.Fprintf(os.Stderr, "ran %s of %s\n", context.GetNode(), context.GetRequestId()) }
	dag := flow.Dag()
	dag.Node("split").Modify(func(in []byte) ([]byte, error) { ran(); return in, nil })
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
	each.Node("up").Modify(func(in []byte) ([]byte, error) { ran(); return bytes.ToUpper(in), nil })
	dag.Node("count").Modify(func(in []byte) ([]byte, error) {
		ran()
		return []byte(fmt.Sprint(len(strings.Split(string(in), ",")))), nil
	})
	dag.Node("join", faasflow.Aggregator(func(m map[string][]byte) ([]byte, error) {
		return []byte(string(m["each"]) + "#" + string(m["count"])), nil
	}))
	dag.Node("wrap").Modify(func(in []byte) ([]byte, error) {
		ran()
		return append(append([]byte("<"), in...), '>'), nil
	})
	dag.Edge("split", "each")
	dag.Edge("split", "count")
	dag.Edge("each", "join")
	dag.Edge("count", "join")
	dag.Edge("join", "wrap")
	return nil
}
