// Package metrics records the engine's events as Prometheus metrics in a
// registry of its own (never the global default registry) and serves them
// on an http.Handler for /metrics.
//
// Labels are bounded: flow names, definition node ids (never instance ids,
// which grow with foreach keys), request states and operation kinds.
package metrics
