package natsqueue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// ErrQueueFull is wrapped by Publish errors when the stream refused the call
// because its function already has as many calls queued as the stream
// allows (a stream with MaxMsgsPerSubject and DiscardNewPerSubject, as
// faasflow up's queue is with --queue-max-per-function). Nothing was
// stored: the caller may try again once the function's backlog has shrunk.
var ErrQueueFull = errors.New("the function's queue is full")

// jsErrStoreFailed is the JetStream error code of a message the stream
// refused to store; its description says which limit refused it.
const jsErrStoreFailed = 10077

// queueFull reports whether err is JetStream refusing a message because its
// subject holds as many messages as the stream allows.
func queueFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrStoreFailed &&
		strings.Contains(apiErr.Description, "per subject")
}

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
// headers. A body over queuemsg.MaxBodyBytes fails with queuemsg.ErrTooLarge,
// and a call the stream refuses because its function's calls fill their
// share of the queue fails with ErrQueueFull.
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
		if queueFull(err) {
			return fmt.Errorf("queue: publish to %s: %w: %w", msg.Subject, ErrQueueFull, err)
		}
		return fmt.Errorf("queue: publish: %w", err)
	}
	return nil
}

// Queued is the number of calls of function fn the stream holds: those
// waiting and those delivered but not yet acknowledged, under either
// spelling of its name (see queuemsg.Subject).
func (p *Publisher) Queued(ctx context.Context, fn string) (uint64, error) {
	subject := queuemsg.Subject(fn)
	s, err := p.js.Stream(ctx, queuemsg.StreamName)
	if err != nil {
		return 0, fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	return info.State.Subjects[subject], nil
}
