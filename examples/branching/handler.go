// Package function is the "branching" example: a sub-DAG holding a
// conditional branch, one of whose branches is a foreach over the words of
// the input. It shows nesting: every construct can sit inside another.
package function

import (
	"bytes"
	"sort"
	"strings"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// joinSorted merges branch results in key order: "k1=v1; k2=v2".
func joinSorted(results map[string][]byte) ([]byte, error) {
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + string(results[k])
	}
	return []byte(strings.Join(parts, "; ")), nil
}

// Define routes a sentence to a foreach over its words (several words) or
// to a single greeting (one word), inside a sub-DAG, then wraps the result.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("clean").Modify(func(in []byte) ([]byte, error) { return bytes.TrimSpace(in), nil })

	inner := faasflow.NewDag()
	inner.Node("lower").Modify(func(in []byte) ([]byte, error) { return bytes.ToLower(in), nil })
	// ConditionalBranch declares its branches; the condition picks one (or
	// several) at run time. Selecting none passes the input through.
	branches := inner.ConditionalBranch("route", []string{"sentence", "word"},
		func(in []byte) []string {
			if bytes.Contains(in, []byte(" ")) {
				return []string{"sentence"}
			}
			return []string{"word"}
		},
		faasflow.Aggregator(joinSorted))
	// ForEachBranch runs its DAG once per key, in parallel (at most 4 at a
	// time here), and the aggregator merges the results keyed by word.
	words := branches["sentence"].ForEachBranch("each-word",
		func(in []byte) map[string][]byte {
			out := map[string][]byte{}
			for _, w := range strings.Fields(string(in)) {
				out[w] = []byte(w)
			}
			return out
		},
		faasflow.Aggregator(joinSorted), faasflow.MaxConcurrency(4))
	words.Node("shout").Apply("upper")
	words.Node("mirror").Apply("reverse")
	words.Edge("shout", "mirror")
	branches["word"].Node("greet").Apply("hello")
	inner.Edge("lower", "route")

	dag.SubDag("analyse", inner)
	dag.Node("wrap").Modify(func(in []byte) ([]byte, error) { return append([]byte("result: "), in...), nil })
	dag.Edge("clean", "analyse")
	dag.Edge("analyse", "wrap")
	return nil
}
