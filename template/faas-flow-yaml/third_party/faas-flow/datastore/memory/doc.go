// Package memory is an in-process sdk.DataStore for unit tests of the engine and
// for single-process use (the flowtest harness).
package memory
