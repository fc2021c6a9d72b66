// Package engine executes flows defined with package sdk, one node per
// invocation.
//
// Compile runs a flow's Define once and validates it; New (or NewFor, with
// a compiled flow) builds an Engine from it and Options: the stores, a
// Transport that carries hops, an Invoker that performs function and HTTP
// calls, the HMAC Signer. Start begins a request: a flow of one node runs
// entirely inside the call and returns its result; otherwise the start
// node runs, and each finished node sends signed hop events (Envelope)
// through the Transport, one per child that became ready. Receive handles
// a hop a Transport delivered: it verifies the signature, runs the node the
// hop names and sends the next hops.
//
// Delivery is at least once. The engine makes that safe with the StateStore's
// atomic primitives: each node instance has a record that moves
// pending → running → succeeded/failed/cancelled by compare-and-swap, so a
// duplicated or redelivered hop of a finished node is dropped; a join records
// which predecessor arrived (create-if-absent) and exactly one arrival fires
// it; branch results are recorded per branch key; failure moves the request to
// failed once, and the last hop to drain cleans the request's keys once.
//
// The engine knows nothing about HTTP: package runtime adapts it to the
// OpenFaaS function contract, and package flowtest runs it in process.
//
// Where things are:
//
//	flow.go       Compile: Define run once, the structure's hash and start
//	engine.go     Options, New
//	start.go      Start: a new request and its first node
//	receive.go    Receive: a hop verified, its node claimed
//	run.go        one hop's run: input, execution, release, final status
//	route.go      a finished node's output to its children, joins, emit
//	branch.go     conditional and foreach nodes: fork, branch results, completion
//	lifecycle.go  the end of a request: success, failure, drain and cleanup, park
//	control.go    Pause, Resume, Stop, State, Result, Wait
//	listing.go    Requests: a flow's requests, a page at a time, newest first
//	exec.go       operations, retries, timeouts, user code behind recover
//	envelope.go   the hop envelope and its signature
//	records.go    request and node records
//	keys.go       the StateStore and DataStore key layout
//	reserve.go    child records created ahead of their hops
//	txn.go        several store operations in one round trip
package engine
