package function

import (
	"fmt"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define describes the flow. It runs on every invocation, so it must be
// cheap and always build the same structure; the functions it passes
// (Modify, Condition, ForEach, Aggregator...) run later, one node per
// invocation.
//
// This flow has one node (SyncNode): it runs inside the first call and the
// caller gets its output, with no store or secret to configure. Try it:
//
//	echo -n world | faas-cli invoke <name>
func Define(flow *faasflow.Workflow, context *faasflow.Context) (err error) {
	// SyncNode is the flow's only node; its operations run in order, the
	// output of one being the input of the next.
	flow.SyncNode().
		// Modify runs Go code inside the flow function.
		Modify(func(data []byte) ([]byte, error) {
			return []byte(fmt.Sprintf("Hello %s", data)), nil
		})
	// Apply calls another OpenFaaS function through the gateway:
	//	.Apply("func1", faasflow.Header("X-Key", "v"), faasflow.Query("lang", "en"))
	// Request calls any URL (method from faasflow.Header("method", "GET"),
	// default POST); Callback posts the data to a URL and passes it on:
	//	.Request("https://example.com/api").Callback("http://receiver/hook")

	// A DAG of several nodes runs one node per invocation and needs the
	// secret faasflow-hmac-secret, a state store (etcd) and a data store
	// (MinIO/S3); see the welcome message of `faas-cli new`.
	//
	//	dag := flow.Dag()
	//	dag.Node("fetch").Apply("fetch-data")
	//	dag.Node("a").Apply("func-a")           // parallel branches:
	//	dag.Node("b").Apply("func-b")           // fetch -> a, fetch -> b
	//	dag.Node("join", faasflow.Aggregator(func(in map[string][]byte) ([]byte, error) {
	//		return append(in["a"], in["b"]...), nil // a join needs an aggregator
	//	})).Modify(func(d []byte) ([]byte, error) { return d, nil })
	//	dag.Edge("fetch", "a")
	//	dag.Edge("fetch", "b", faasflow.Forwarder(func(d []byte) []byte { return d })) // transform edge data
	//	dag.Edge("a", "join")
	//	dag.Edge("b", "join")
	//	dag.Edge("join", "notify", faasflow.Execution) // order only, no data
	//	dag.Node("notify").Callback("http://receiver/hook")
	//
	// Conditional branches run the sub-DAGs whose keys the condition picks:
	//
	//	branches := dag.ConditionalBranch("check", []string{"big", "small"},
	//		func(d []byte) []string { if len(d) > 100 { return []string{"big"} }; return []string{"small"} },
	//		faasflow.Aggregator(func(r map[string][]byte) ([]byte, error) { return r["big"], nil }))
	//	branches["big"].Node("compress").Apply("compress")
	//	branches["small"].Node("keep").Modify(func(d []byte) ([]byte, error) { return d, nil })
	//
	// Foreach branches run one sub-DAG per key, in parallel (at most
	// MaxConcurrency at once):
	//
	//	each := dag.ForEachBranch("each", func(d []byte) map[string][]byte {
	//		return map[string][]byte{"x": d, "y": d}
	//	}, faasflow.Aggregator(func(r map[string][]byte) ([]byte, error) { return r["x"], nil }), faasflow.MaxConcurrency(2))
	//	each.Node("work").Apply("worker")
	//
	// A sub-DAG runs inline: dag.SubDag("inner", sub) with sub := flow.NewDag().
	// Per-node policies: faasflow.Retry(faasflow.RetryPolicy{MaxAttempts: 3}),
	// faasflow.NodeTimeout(10*time.Second), as options of dag.Node.
	//
	// context carries the request: context.GetRequestId(), context.Query
	// (the caller's query string), and a key-value store shared by the
	// nodes of a request, usable inside operations (not in Define itself):
	// context.Set("k", v), context.GetString("k"), context.Del("k").
	//
	// Request-level handlers:
	//	flow.OnFailure(func(err error) ([]byte, error) { return []byte(err.Error()), nil })
	//	flow.Finally(func(state string) { /* "success", "failure" or "stopped" */ })
	//
	// Stores: by default from configuration (state_store, data_store). To
	// supply your own, define in this package
	//	func OverrideStateStore() (faasflow.StateStore, error)
	//	func OverrideDataStore() (faasflow.DataStore, error)
	// (faas-flow's names DefineStateStore/DefineDataStore work too); return
	// nil, nil to keep the configured store.
	return nil
}
