// Package function is the flow the dashboard's browser test drives: a
// foreach, a conditional and a slow node, so that its DAG shows every kind
// of branch and a request runs long enough to be paused from the page.
package function

import (
	"errors"
	"sort"
	"strings"
	"time"

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
		parts[i] = string(in[k])
	}
	return []byte(strings.Join(parts, ",")), nil
}

// Define: split -> each (foreach: shout, which fails twice on "boom", a
// tolerated fault) -> size (conditional: long | short) -> settle (sleeps as
// long as the request's ?settle= says) -> done.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("split").Modify(func(in []byte) ([]byte, error) { return in, nil })
	each := dag.ForEachBranch("each", func(in []byte) map[string][]byte {
		out := map[string][]byte{}
		for _, p := range strings.Split(string(in), ",") {
			out[p] = []byte(p)
		}
		return out
	}, faasflow.Aggregator(joinSorted), faasflow.ToleratedFailures(1))
	each.Node("shout", faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 2, InitialInterval: 50 * time.Millisecond})).
		Modify(func(in []byte) ([]byte, error) {
			if string(in) == "boom" {
				return nil, errors.New("shout refuses boom")
			}
			return []byte(strings.ToUpper(string(in))), nil
		})
	branches := dag.ConditionalBranch("size", []string{"long", "short"}, func(in []byte) []string {
		if len(in) > 8 {
			return []string{"long"}
		}
		return []string{"short"}
	}, faasflow.Aggregator(func(in map[string][]byte) ([]byte, error) {
		for k, v := range in {
			return []byte(k + ":" + string(v)), nil
		}
		return nil, nil
	}))
	branches["long"].Node("trim").Modify(func(in []byte) ([]byte, error) { return in[:8], nil })
	branches["short"].Node("pad").Modify(func(in []byte) ([]byte, error) { return append(in, '.'), nil })
	dag.Node("settle").Modify(func(in []byte) ([]byte, error) {
		if d, err := time.ParseDuration(context.Query.Get("settle")); err == nil && d > 0 && d < time.Minute {
			time.Sleep(d)
		}
		return in, nil
	})
	dag.Node("done").Modify(func(in []byte) ([]byte, error) { return append(in, '!'), nil })
	dag.Edge("split", "each")
	dag.Edge("each", "size")
	dag.Edge("size", "settle")
	dag.Edge("settle", "done")
	return nil
}
