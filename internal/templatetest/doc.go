// Package templatetest builds flow functions from template/faas-flow the way
// its Dockerfile does and runs them on 127.0.0.1 behind a stand-in gateway.
// It is test infrastructure: it holds only tests.
package templatetest
