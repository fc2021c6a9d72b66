package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// Public names of the stream, its subjects and the durable consumer.
const (
	StreamName    = "faas-request"
	SubjectPrefix = "faas-request."
	DurableName   = "faas-workers"
	// HeaderFunction is the NATS header naming the target function.
	HeaderFunction = "Faasflow-Function"
	// MaxBodyBytes is the largest request body accepted (JetStream's default
	// max payload is 1 MiB; the message also carries headers and base64).
	MaxBodyBytes = 700 << 10
)

// ErrTooLarge is returned when a request body exceeds MaxBodyBytes.
var ErrTooLarge = errors.New("request body too large for the queue")

// StreamOptions configure the stream.
type StreamOptions struct {
	// Memory selects memory storage (default: file storage).
	Memory bool
	// MaxAge drops messages older than this (default: keep until acked).
	MaxAge time.Duration
	// Duplicates is the de-duplication window for Nats-Msg-Id (default 2m).
	Duplicates time.Duration
}

// EnsureStream creates or updates the faas-request work-queue stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	storage := jetstream.FileStorage
	if o.Memory {
		storage = jetstream.MemoryStorage
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "faas-flow local gateway async requests",
		Subjects:    []string{SubjectPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		MaxAge:      o.MaxAge,
		Duplicates:  o.Duplicates,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: create stream %s: %w", StreamName, err)
	}
	return s, nil
}

var subjectUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Subject is the subject a call to fn is published on.
func Subject(fn string) string {
	return SubjectPrefix + subjectUnsafe.ReplaceAllString(fn, "_")
}

// Publisher publishes async requests.
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
	return &Publisher{js: js, tracer: tp.Tracer("github.com/faas-flow/faas-flow/gateway/queue"), prop: propagation.TraceContext{}}
}

// Publish stores req. callID becomes the Nats-Msg-Id (empty: none).
func (p *Publisher) Publish(ctx context.Context, req api.QueueRequest, callID string) error {
	if len(req.Body) > MaxBodyBytes {
		return fmt.Errorf("%w: %d bytes, maximum %d", ErrTooLarge, len(req.Body), MaxBodyBytes)
	}
	ctx, span := p.tracer.Start(ctx, "queue.publish "+req.Function, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("faas.function", req.Function), attribute.String("faas.call_id", callID)))
	defer span.End()
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("queue: encode: %w", err)
	}
	msg := nats.NewMsg(Subject(req.Function))
	msg.Data = data
	msg.Header.Set(HeaderFunction, req.Function)
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

// Decode parses a queued message body. A plain string CallbackUrl is
// accepted as well as the encoded url.URL.
func Decode(data []byte) (api.QueueRequest, error) {
	var req api.QueueRequest
	if err := json.Unmarshal(data, &req); err != nil {
		var loose struct {
			api.QueueRequest
			CallbackURL string `json:"CallbackUrl"`
		}
		if err2 := json.Unmarshal(data, &loose); err2 != nil {
			return api.QueueRequest{}, fmt.Errorf("queue: decode: %w", err)
		}
		req = loose.QueueRequest
		if loose.CallbackURL != "" {
			u, err := parseURL(loose.CallbackURL)
			if err != nil {
				return api.QueueRequest{}, fmt.Errorf("queue: decode callback: %w", err)
			}
			req.CallbackURL = u
		}
	}
	if req.Function == "" {
		return api.QueueRequest{}, errors.New("queue: decode: no Function")
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	return req, nil
}
