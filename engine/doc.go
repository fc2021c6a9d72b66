// Package engine executes flows defined with package sdk, one node per
// invocation.
//
// An Engine is built from a Define function and Options (stores, a Transport
// that carries hops, an Invoker that performs function and HTTP calls, the
// HMAC key). Start begins a request: a flow of one node runs entirely inside
// the call and returns its result; otherwise the start node runs, and each
// finished node emits signed hop events (Envelope) through the Transport, one
// per child that became ready. Receive handles a hop a Transport delivered:
// it verifies the signature, runs the target node and emits the next hops.
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
package engine
