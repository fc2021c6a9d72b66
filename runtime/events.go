package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/faas-flow/faas-flow/engine"
)

// Completion events tell other systems that a request (and, with
// events_nodes, a node) ended, whether or not its caller asked for a
// callback. Each event is a JSON Event, sent to every configured sink: a
// NATS JetStream subject (events_nats_url) and an HTTP endpoint
// (events_url). Both carry the headers of a completion callback,
// X-Faas-Flow-Reqid, X-Faas-Flow-State, X-Faas-Flow-Name and
// X-Faas-Flow-Signature (see SignCallback: the state and body signed are
// the event's), and X-Faas-Flow-Event (request or node).
//
// A request's event goes out after its end is recorded and before the
// request's finalizing phase is cleared: an end whose process dies in
// between is reported again by the reconciler. The NATS message id
// (Nats-Msg-Id, EventMsgID) is the same for every report of one end, so
// JetStream stores it once within the stream's duplicate window.

// Event kinds (the X-Faas-Flow-Event header and Event.Kind).
const (
	EventKindRequest = "request"
	EventKindNode    = "node"
)

// Headers of a completion event besides those of a callback:
// HeaderEventKind names its kind, HeaderEventID is EventMsgID (the same
// for every report of one end: receivers drop a repeat by it).
const (
	HeaderEventKind = "X-Faas-Flow-Event"
	HeaderEventID   = "X-Faas-Flow-Event-Id"
)

// EventsConfig configures completion events (the events_* settings).
type EventsConfig struct {
	// NATSURL is the NATS server events are published to ("" for none);
	// SubjectPrefix starts their subjects.
	NATSURL       string
	SubjectPrefix string
	// URL is an HTTP endpoint events are POSTed to ("" for none).
	URL string
	// Nodes publishes an event for every node attempt too.
	Nodes bool
}

// DefaultEventSubjectPrefix is the default of events_subject_prefix.
const DefaultEventSubjectPrefix = "faasflow.events"

// Event is the JSON body of a completion event.
type Event struct {
	Kind      string `json:"kind"` // EventKindRequest or EventKindNode
	Flow      string `json:"flow"`
	RequestID string `json:"request_id"`
	// State is the request's end (succeeded, failed, stopped) or, for a
	// node event, the attempt's (succeeded, failed).
	State string `json:"state"`
	// Node, Attempt: the node's instance id and attempt (node events).
	Node    string `json:"node,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	// Started and Ended are when the request (node event: the attempt)
	// began and ended.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// ResultSize is the size in bytes of the request's result (for a
	// failed request, of its OnFailure output); Error is why it failed.
	ResultSize int    `json:"result_size"`
	Error      string `json:"error,omitempty"`
}

// EventSubject is the NATS subject of an event of kind for flow ending in
// state: <prefix>.<flow>.<kind>.<state>. Characters of the flow's name
// that NATS gives a meaning to in a subject (".", "*", ">", spaces) become
// "_".
func EventSubject(prefix, flow, kind, state string) string {
	return prefix + "." + subjectToken(flow) + "." + kind + "." + subjectToken(state)
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// EventMsgID is the Nats-Msg-Id of ev: the request id, the kind, the
// state and the end time for a request (a redriven request that ends again
// is a new event); the node, attempt and state for a node.
func EventMsgID(ev *Event) string {
	if ev.Kind == EventKindNode {
		return ev.RequestID + ".node." + headerToken(ev.Node) + "." + strconv.Itoa(ev.Attempt) + "." + ev.State
	}
	return ev.RequestID + ".request." + ev.State + "." + strconv.FormatInt(ev.Ended.UnixNano(), 10)
}

// headerToken is s when it is printable ASCII without spaces (a node's
// instance id may hold a foreach branch key, which is any text), else a
// hash of it, so that it can be sent in a header.
func headerToken(s string) string {
	for _, r := range s {
		if r <= ' ' || r > '~' {
			sum := sha256.Sum256([]byte(s))
			return "h" + hex.EncodeToString(sum[:12])
		}
	}
	return s
}

// eventSink is one destination of events.
type eventSink interface {
	name() string
	publish(ctx context.Context, ev *outgoingEvent) error
	close() error
}

// outgoingEvent is an event encoded once for every sink.
type outgoingEvent struct {
	ev      Event
	body    []byte
	subject string
	msgID   string
}

// EventStats counts the events of an EventPublisher, per sink attempt.
type EventStats struct {
	// Published: events a sink accepted. Retried: first attempts that
	// failed and were queued for retries. Failed: events a sink never
	// accepted (logged at error level).
	Published, Retried, Failed int64
}

// EventPublisher sends completion events. It is an engine.Notifier
// (engine.Options.Events) and, for node events, an engine.Observer.
type EventPublisher struct {
	engine.NopObserver
	sinks    []eventSink
	prefix   string
	nodes    bool
	attempts int
	timeout  time.Duration
	log      *slog.Logger

	published, retried, failed atomic.Int64

	retry chan retryItem
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

type retryItem struct {
	sink eventSink
	ev   *outgoingEvent
}

// eventOptions configure an EventPublisher.
type eventOptions struct {
	sinks    []eventSink
	prefix   string
	nodes    bool
	attempts int
	timeout  time.Duration
	log      *slog.Logger
}

func newEventPublisher(o eventOptions) *EventPublisher {
	if o.prefix == "" {
		o.prefix = DefaultEventSubjectPrefix
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	p := &EventPublisher{
		sinks: o.sinks, prefix: o.prefix, nodes: o.nodes,
		attempts: max(o.attempts, 1), timeout: o.timeout, log: o.log,
		retry: make(chan retryItem, 1024), stop: make(chan struct{}),
	}
	p.wg.Add(1)
	go p.retryLoop()
	return p
}

// Stats returns the publisher's counters.
func (p *EventPublisher) Stats() EventStats {
	return EventStats{Published: p.published.Load(), Retried: p.retried.Load(), Failed: p.failed.Load()}
}

// Notify publishes the event of the request end c. Each sink is tried
// once, within the publish timeout, before Notify returns (so that the
// event is stored before the engine clears the request's finalizing
// phase); a sink that fails is tried again in the background.
func (p *EventPublisher) Notify(ctx context.Context, c engine.Completion) error {
	ev := Event{
		Kind: EventKindRequest, Flow: c.Flow, RequestID: c.RequestID, State: c.State,
		Started: c.Started.UTC(), Ended: c.Ended.UTC(), ResultSize: len(c.Result), Error: c.Error,
	}
	return p.send(ctx, ev)
}

// NodeEnded publishes the event of a node's attempt when events_nodes is
// on.
func (p *EventPublisher) NodeEnded(ctx context.Context, n engine.NodeInfo, err error) {
	if !p.nodes {
		return
	}
	ev := Event{Kind: EventKindNode, Flow: n.Flow, RequestID: n.RequestID, Node: n.Node, Attempt: n.Attempt,
		State: engine.StateSucceeded, Ended: time.Now().UTC()}
	if err != nil {
		ev.State, ev.Error = engine.StateFailed, err.Error()
	}
	_ = p.send(ctx, ev)
}

func (p *EventPublisher) send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(&ev)
	if err != nil {
		return fmt.Errorf("encode completion event: %w", err)
	}
	out := &outgoingEvent{ev: ev, body: body, subject: EventSubject(p.prefix, ev.Flow, ev.Kind, ev.State), msgID: EventMsgID(&ev)}
	var errs []error
	for _, s := range p.sinks {
		if err := p.publishOnce(ctx, s, out); err != nil {
			errs = append(errs, p.later(s, out, err))
		}
	}
	return errors.Join(errs...)
}

func (p *EventPublisher) publishOnce(ctx context.Context, s eventSink, out *outgoingEvent) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	if err := s.publish(actx, out); err != nil {
		return err
	}
	p.published.Add(1)
	return nil
}

// later queues out for retries on s after a first attempt failed with
// err; a full queue or a closed publisher loses it (counted, logged).
func (p *EventPublisher) later(s eventSink, out *outgoingEvent, err error) error {
	select {
	case <-p.stop:
	default:
		select {
		case p.retry <- retryItem{sink: s, ev: out}:
			p.retried.Add(1)
			p.log.Warn("completion event not published; retrying", "sink", s.name(), "request", out.ev.RequestID, "err", err)
			return nil
		default:
		}
	}
	p.failed.Add(1)
	p.log.Error("completion event lost", "sink", s.name(), "request", out.ev.RequestID, "state", out.ev.State, "err", err)
	return fmt.Errorf("completion event to %s: %w", s.name(), err)
}

func (p *EventPublisher) retryLoop() {
	defer p.wg.Done()
	for {
		select {
		case it := <-p.retry:
			p.retryOne(it)
		case <-p.stop:
			for {
				select {
				case it := <-p.retry:
					p.retryOne(it)
				default:
					return
				}
			}
		}
	}
}

// retryOne tries it again with backoff, attempts-1 more times.
func (p *EventPublisher) retryOne(it retryItem) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 500*time.Millisecond, 30*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(p.attempts)*(p.timeout+30*time.Second))
	defer cancel()
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		return struct{}{}, p.publishOnce(ctx, it.sink, it.ev)
	}, backoff.WithBackOff(b), backoff.WithMaxTries(uint(max(p.attempts-1, 1))), backoff.WithMaxElapsedTime(0))
	if err != nil {
		p.failed.Add(1)
		p.log.Error("completion event lost after retries", "sink", it.sink.name(), "request", it.ev.ev.RequestID, "state", it.ev.ev.State, "err", err)
	}
}

// Close stops taking events, finishes the retries queued (until ctx ends)
// and closes the sinks.
func (p *EventPublisher) Close(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("completion events still being retried: %w", ctx.Err()))
	}
	for _, s := range p.sinks {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// signedHeaders are the headers of out, signed at now with key (none
// when key is empty: insecure mode).
func signedHeaders(key []byte, now time.Time, out *outgoingEvent) map[string]string {
	h := map[string]string{
		HeaderRequestID: out.ev.RequestID,
		HeaderState:     out.ev.State,
		HeaderFlow:      out.ev.Flow,
		HeaderEventKind: out.ev.Kind,
		HeaderEventID:   out.msgID,
	}
	if len(key) > 0 {
		h[HeaderSignature] = SignCallback(key, now, out.ev.RequestID, out.ev.State, out.body)
	}
	return h
}

// applyEventPrefix sets events_subject_prefix: dot-separated tokens of
// letters, digits, "-" and "_".
func applyEventPrefix(c *Config, v string) error {
	v = strings.TrimSpace(v)
	for _, tok := range strings.Split(v, ".") {
		if tok == "" || subjectToken(tok) != tok {
			return fmt.Errorf("%q: want dot-separated tokens of letters, digits, - and _", v)
		}
	}
	c.Events.SubjectPrefix = v
	return nil
}
