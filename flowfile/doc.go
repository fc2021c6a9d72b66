// Package flowfile runs a flow written as a file instead of Go: a YAML or
// JSON state machine in a subset of the Amazon States Language (Task, Pass,
// Choice, Parallel, Map, Succeed, Fail; Retry and TimeoutSeconds), which it
// maps onto the sdk's Workflow so that the engine runs it exactly like a
// flow defined in Go.
//
//	def, err := flowfile.Load("flow.yaml")
//	// def.Define plugs in wherever a Go Define does:
//	runtime.Run(ctx, def.Define)
//
// Load and Parse refuse whatever the engine cannot honour (a cycle, an
// unknown field, Catch, Wait…) with an *Error naming the file, line and
// field. docs/declarative.md describes the supported subset.
package flowfile
