// Package memory is an in-process sdk.StateStore for unit tests of the engine
// and for single-process use (the flowtest harness). It is linearizable, honours
// TTLs, and loses everything when the process exits.
package memory
