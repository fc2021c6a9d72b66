// Command handler is a declarative faas-flow function: the faas-flow
// runtime serving the flow file of the handler folder (function/flow.yaml,
// flow.yml or flow.json), compiled into the binary. Configuration comes
// from the environment and OpenFaaS secrets (see docs/configuration.md of
// github.com/faas-flow/faas-flow).
package main

import (
	"context"
	"embed"
	"io/fs"
	"log"

	"github.com/faas-flow/faas-flow/flowfile"
	"github.com/faas-flow/faas-flow/runtime"
)

//go:embed function
var handler embed.FS

// load parses the flow file of the handler folder.
func load() (*flowfile.Definition, error) {
	dir, err := fs.Sub(handler, "function")
	if err != nil {
		return nil, err
	}
	return flowfile.LoadFS(dir)
}

func main() {
	def, err := load()
	if err != nil {
		log.Fatalf("faas-flow: %v", err)
	}
	if err := runtime.Run(context.Background(), def.Define); err != nil {
		log.Fatalf("faas-flow: %v", err)
	}
}
