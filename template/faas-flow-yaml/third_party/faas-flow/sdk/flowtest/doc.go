// Package flowtest runs a flow's Define end to end inside a test, with
// in-memory stores and an in-process (loopback) transport in place of the
// gateway and queue.
//
//	h, err := flowtest.New(function.Define,
//		flowtest.WithFunction("greet", func(in []byte) ([]byte, error) { ... }))
//	res, err := h.Run(ctx, []byte("Adam"))
//	// res.State == "succeeded", res.Output == ...
//
// Chaos mode (WithChaos) duplicates, reorders and delays hops from a seed, the
// faults an at-least-once queue produces, so a test can prove that a flow's
// result does not depend on them.
package flowtest
