// This file is replaced at build time by `go generate` (see main.go), which
// wires the store functions handler.go may define (DefineStateStore,
// DefineDataStore, OverrideStateStore, OverrideDataStore). Unreplaced, the
// runtime warns that such functions would be ignored.

package main

import "github.com/faas-flow/faas-flow/runtime"

func storeOptions() []runtime.Option {
	return []runtime.Option{runtime.StoreOverridesNotScanned()}
}
