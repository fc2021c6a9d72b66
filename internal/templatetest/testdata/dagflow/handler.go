package function

import (
	gocontext "context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/faas-flow/faas-flow/datastore/memory"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define is a faas-flow DAG: parallel branches joined by an aggregator, a
// conditional branch, a foreach branch, the request context and the
// DefineDataStore hook.
//
//	split -> upper (function) -> merge -> size (conditional) -> remember -> words (foreach) -> finish
//	      -> count (modifier) ->
func Define(flow *faasflow.Workflow, context *faasflow.Context) (err error) {
	dag := flow.Dag()
	dag.Node("split").Modify(func(data []byte) ([]byte, error) {
		if err := context.Set("original", string(data)); err != nil {
			return nil, err
		}
		return data, nil
	})
	dag.Node("upper").Apply("upper", faasflow.Query("lang", "en"), faasflow.Header("X-Mode", "loud"))
	dag.Node("count").Modify(func(data []byte) ([]byte, error) {
		return []byte(fmt.Sprint(len(strings.Fields(string(data))))), nil
	})
	dag.Node("merge", faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
		return []byte(string(results["upper"]) + "|" + string(results["count"])), nil
	}))
	dag.Edge("split", "upper")
	dag.Edge("split", "count")
	dag.Edge("upper", "merge")
	dag.Edge("count", "merge")

	branches := dag.ConditionalBranch("size", []string{"short", "long"},
		func(data []byte) []string {
			if len(data) > 20 {
				return []string{"long"}
			}
			return []string{"short"}
		},
		faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
			for _, v := range results {
				return v, nil
			}
			return nil, nil
		}),
	)
	branches["short"].Node("tag-short").Modify(func(data []byte) ([]byte, error) {
		return append(data, "|short"...), nil
	})
	branches["long"].Node("tag-long").Modify(func(data []byte) ([]byte, error) {
		return append(data, "|long"...), nil
	})
	dag.Edge("merge", "size")

	dag.Node("remember").Modify(func(data []byte) ([]byte, error) {
		return data, context.Set("summary", string(data))
	})
	dag.Edge("size", "remember")

	words := dag.ForEachBranch("words",
		func(data []byte) map[string][]byte {
			out := map[string][]byte{}
			for i, w := range strings.Fields(context.GetString("original")) {
				out[fmt.Sprintf("w%02d", i)] = []byte(w)
			}
			return out
		},
		faasflow.Aggregator(func(results map[string][]byte) ([]byte, error) {
			keys := make([]string, 0, len(results))
			for k := range results {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = string(results[k])
			}
			return []byte(strings.Join(parts, ",")), nil
		}),
	)
	words.Node("reverse").Apply("reverse")
	dag.Edge("remember", "words")

	dag.Node("finish").Modify(func(data []byte) ([]byte, error) {
		return []byte(fmt.Sprintf("%s;%s;override=%t", context.GetString("summary"), data, dataPuts.Load() > 0)), nil
	})
	dag.Edge("words", "finish")
	flow.OnFailure(func(err error) ([]byte, error) { return []byte("failed: " + err.Error()), nil })
	return nil
}

var dataPuts atomic.Int64

// putCounter is the DataStore DefineDataStore hands to the runtime; it
// counts writes so that the flow can prove the hook is used.
type putCounter struct{ faasflow.DataStore }

func (p *putCounter) Put(ctx gocontext.Context, key string, data []byte) error {
	dataPuts.Add(1)
	return p.DataStore.Put(ctx, key, data)
}

// DefineDataStore is faas-flow's hook for the flow's data store.
func DefineDataStore() (faasflow.DataStore, error) {
	return &putCounter{DataStore: memory.New()}, nil
}
