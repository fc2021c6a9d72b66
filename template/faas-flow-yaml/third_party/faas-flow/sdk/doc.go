// Package sdk is the public API a flow author imports to define a flow.
//
// A flow function exports one function,
//
//	func Define(flow *faasflow.Workflow, context *faasflow.Context) error
//
// which describes the flow: a single synchronous node (Workflow.SyncNode) or a
// DAG (Workflow.Dag) of nodes joined by edges, with sub-DAGs, conditional and
// foreach branches, aggregators and forwarders. Each node holds an ordered list
// of operations (Modify, Apply, Request, Callback, AddOperation); the output of
// one operation is the input of the next.
//
// The package is source compatible with faas-flow's DSL: a faas-flow
// handler.go compiles after its import path is changed to this package
// (conventionally imported under the name faasflow). Where faas-flow panicked
// (typed getters, invalid edges) this package records an error instead: the
// getters keep their old signatures, never panic and are deprecated in favour
// of Lookup variants that return errors, and definition mistakes are reported
// by Workflow.Validate with the node path and the fix.
//
// Define is called on every invocation of the flow function, so it must be
// deterministic and cheap. It must not read the Context's stores: the context
// is live only inside operations.
//
// The package also declares the two store interfaces, StateStore
// (coordination: atomic create, compare-and-swap, TTL) and DataStore
// (intermediate data), which users may implement. It contains no network code;
// the engine (package engine) executes what is defined here.
package sdk
