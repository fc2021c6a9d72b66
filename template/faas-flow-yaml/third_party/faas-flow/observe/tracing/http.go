package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// InjectHeaders writes the W3C trace context of the span in ctx (for an
// outbound call from an operation: the operation span) into h, so the
// called function's spans join the request's trace. It writes nothing when
// ctx holds no span context.
func InjectHeaders(ctx context.Context, h http.Header) {
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}

// ExtractHeaders returns ctx with the remote span context of the W3C trace
// context headers in h (traceparent, tracestate), if valid. The runtime uses
// it on incoming calls: on the first call of a request the caller's span
// becomes the request span's parent; on a hop the transport's span is linked
// from the node span.
func ExtractHeaders(ctx context.Context, h http.Header) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(h))
}
