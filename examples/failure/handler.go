// Package function is the "failure" example: retries with backoff, a node
// that fails for good, and the flow's OnFailure and Finally handlers.
package function

import (
	"log"
	"strings"
	"time"

	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// Define calls the flaky function, which fails twice per key before it
// succeeds: the node's retry policy absorbs that. If the input contains
// "fail", the validate node fails permanently, the request fails once,
// OnFailure produces the request's result and Finally logs the outcome.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("flaky", faasflow.Retry(faasflow.RetryPolicy{
		MaxAttempts:     4,
		InitialInterval: 20 * time.Millisecond,
		MaxInterval:     200 * time.Millisecond,
	}), faasflow.NodeTimeout(10*time.Second)).
		Apply("flaky", faasflow.Query("key", context.GetRequestId()), faasflow.Timeout(5*time.Second))
	dag.Node("validate").Modify(func(in []byte) ([]byte, error) {
		if strings.Contains(string(in), "fail") {
			return nil, faasflow.Permanent(errRejected)
		}
		return append([]byte("accepted: "), in...), nil
	})
	dag.Edge("flaky", "validate")

	flow.OnFailure(func(err error) ([]byte, error) {
		return []byte("rejected, compensation done: " + err.Error()), nil
	})
	flow.Finally(func(state string) {
		log.Printf("request %s finished: %s", context.GetRequestId(), state)
	})
	return nil
}

type rejected struct{}

func (rejected) Error() string { return "input contains the word fail" }

var errRejected error = rejected{}
