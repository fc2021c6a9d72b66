// Command storegen writes the file that wires a flow handler's optional store
// functions into the runtime.
//
// A faas-flow handler.go may define DefineStateStore and DefineDataStore
// (faas-flow's first names) or OverrideStateStore and OverrideDataStore
// (later names), each func() (faasflow.StateStore|DataStore, error). Go
// cannot test whether an optional function exists, so the faas-flow
// template's build runs this program (through `go generate` in main.go)
// before `go build`: it parses the handler package's Go files and writes
// zz_stores.go, whose storeOptions() passes the functions it found to
// runtime.Run.
//
// Usage (in the build context's root):
//
//	go run github.com/faas-flow/faas-flow/runtime/storegen -dir function -out zz_stores.go
package main
