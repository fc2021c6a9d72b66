//go:build tools

// Package tools pins the Jaeger v2 binary as a requirement of this module so
// that `go build github.com/jaegertracing/jaeger/cmd/jaeger` resolves against
// the committed go.mod and go.sum.
package tools

import (
	_ "github.com/jaegertracing/jaeger/cmd/jaeger"
)
