// Command handler is a faas-flow flow function: the faas-flow runtime
// serving the Define function of package function (function/handler.go).
// Configuration comes from the environment and OpenFaaS secrets (see
// docs/configuration.md of github.com/faas-flow/faas-flow).
package main

//go:generate go run -mod=mod github.com/faas-flow/faas-flow/runtime/storegen -dir function -out zz_stores.go

import (
	"context"
	"log"

	"github.com/faas-flow/faas-flow/runtime"

	"handler/function"
)

func main() {
	if err := runtime.Run(context.Background(), function.Define, storeOptions()...); err != nil {
		log.Fatalf("faas-flow: %v", err)
	}
}
