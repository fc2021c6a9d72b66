package function

import (
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define is a faas-flow sync chain: one node, three operations, run in the
// first call.
func Define(flow *faasflow.Workflow, context *faasflow.Context) (err error) {
	flow.SyncNode().
		Modify(func(data []byte) ([]byte, error) {
			return []byte("Hello " + string(data)), nil
		}).
		Apply("upper", faasflow.Header("method", "PUT"), faasflow.Query("lang", "en")).
		Modify(func(data []byte) ([]byte, error) {
			return append(data, '!'), nil
		})
	return
}
