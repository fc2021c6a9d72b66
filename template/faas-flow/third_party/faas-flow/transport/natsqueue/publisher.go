package natsqueue

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// Publisher publishes asynchronous calls on the queue's stream.
type Publisher struct {
	js     jetstream.JetStream
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewPublisher returns a Publisher. tp may be nil (no tracing).
func NewPublisher(js jetstream.JetStream, tp trace.TracerProvider) *Publisher {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Publisher{js: js, tracer: tp.Tracer("github.com/faas-flow/faas-flow/transport/natsqueue"), prop: propagation.TraceContext{}}
}

// Publish stores req on the subject of its function and returns once
// JetStream has acknowledged it. A non-empty callID becomes the message's
// Nats-Msg-Id, so a call published again inside the stream's duplicate
// window is stored once. The W3C trace context of ctx rides in the message
// headers. A body over queuemsg.MaxBodyBytes fails with queuemsg.ErrTooLarge.
func (p *Publisher) Publish(ctx context.Context, req queuemsg.Request, callID string) error {
	data, err := queuemsg.Encode(req)
	if err != nil {
		return err
	}
	ctx, span := p.tracer.Start(ctx, "queue.publish "+req.Function, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("faas.function", req.Function), attribute.String("faas.call_id", callID)))
	defer span.End()
	msg := nats.NewMsg(queuemsg.Subject(req.Function))
	msg.Data = data
	msg.Header.Set(queuemsg.HeaderFunction, req.Function)
	p.prop.Inject(ctx, propagation.HeaderCarrier(http.Header(msg.Header)))
	var opts []jetstream.PublishOpt
	if callID != "" {
		opts = append(opts, jetstream.WithMsgID(callID))
	}
	if _, err := p.js.PublishMsg(ctx, msg, opts...); err != nil {
		span.RecordError(err)
		return fmt.Errorf("queue: publish: %w", err)
	}
	return nil
}
