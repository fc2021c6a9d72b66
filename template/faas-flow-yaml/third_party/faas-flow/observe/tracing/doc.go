// Package tracing turns the engine's events into OpenTelemetry spans, one
// trace per request, exported over OTLP (to Jaeger or any collector).
//
// Shape of a request's trace:
//
//	<flow name>                       request span (root), whole request
//	├── <node id>                     one span per attempt of a node
//	│   ├── <operation id>            one span per operation
//	│   └── hop <next node>           producer span of each hop it emits
//	└── <next node>                   linked to the hop span that started it
//
// A request usually ends in another invocation (often another process) than
// the one that started it, and OpenTelemetry cannot end a span started
// elsewhere. So the request span's identity (trace id, span id, sampling
// decision) is chosen when the request starts, stored in RequestInfo.Trace
// (persisted in the request record and copied into every hop), every node
// span is parented on that remote span context, and when the request ends
// the request span is created with exactly those ids and the original start
// time, through an IDGenerator that returns ids preset in the context.
//
// Hops carry W3C trace context (traceparent/tracestate of the hop's producer
// span) inside the signed hop envelope; the receiving node span links to it.
// Retries are span events, failures set error status on node, operation and
// request spans.
//
// Nothing here touches OpenTelemetry's global state: New builds a
// TracerProvider from a Config (or wraps one the caller passes) and the
// Tracing value is handed to the engine as its Observer.
package tracing
