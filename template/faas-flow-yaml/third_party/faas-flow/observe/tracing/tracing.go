package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-flow/faas-flow/engine"
)

// ScopeName is the instrumentation scope of every span this package makes.
const ScopeName = "github.com/faas-flow/faas-flow/observe/tracing"

// Keys of the Envelope.Trace / RequestInfo.Trace map.
const (
	// KeyRoot holds the request span's context as a W3C traceparent value.
	KeyRoot = "root"
	// KeyRootState holds the request span's W3C tracestate, if any.
	KeyRootState = "root_state"
	// KeyRootParent holds the traceparent of the caller's span when the
	// first call arrived with trace context: the request span's parent.
	KeyRootParent = "root_parent"
	// KeyTraceparent and KeyTracestate hold the W3C context of the hop's
	// producer span (standard header names, so other tools can read them).
	KeyTraceparent = "traceparent"
	KeyTracestate  = "tracestate"
)

// Attribute keys on spans.
const (
	AttrFlow       = attribute.Key("faasflow.flow")
	AttrRequestID  = attribute.Key("faasflow.request_id")
	AttrState      = attribute.Key("faasflow.state")
	AttrNode       = attribute.Key("faasflow.node")    // instance id
	AttrNodeID     = attribute.Key("faasflow.node_id") // definition id
	AttrNodeKind   = attribute.Key("faasflow.node_kind")
	AttrAttempt    = attribute.Key("faasflow.attempt")
	AttrBranchKey  = attribute.Key("faasflow.branch_key")
	AttrOperation  = attribute.Key("faasflow.operation")
	AttrOpIndex    = attribute.Key("faasflow.operation_index")
	AttrHopID      = attribute.Key("faasflow.hop_id")
	AttrHopTarget  = attribute.Key("faasflow.hop_target")
	AttrHopJoin    = attribute.Key("faasflow.hop_join")
	AttrDataBytes  = attribute.Key("faasflow.data_bytes")
	AttrDataRef    = attribute.Key("faasflow.data_ref")
	AttrRetryDelay = attribute.Key("faasflow.retry_delay_ms")
	AttrError      = attribute.Key("faasflow.error")
	AttrLink       = attribute.Key("faasflow.link")
	// AttrRedelivered counts the times the reconciler sent a node's hop
	// again before the delivery the span shows.
	AttrRedelivered = attribute.Key("faasflow.redelivered")
)

// EventRetry is the name of the span event recorded when a node attempt
// failed and will be retried.
const EventRetry = "faasflow.retry"

// EventRedelivered is the name of the span event on the span of a node
// whose hop the reconciler sent again because it had stalled.
const EventRedelivered = "faasflow.redelivered"

// Tracing is an engine.Observer that records one OpenTelemetry trace per
// request. Build it with New, hand Observer() to engine.Options.Observer, and
// call Shutdown when the process ends.
type Tracing struct {
	enabled bool
	tp      trace.TracerProvider
	owned   *sdktrace.TracerProvider // built by New; flushed and shut down by us
	tracer  trace.Tracer
	sampler sdktrace.Sampler
	prop    propagation.TraceContext
}

var _ engine.Observer = (*Tracing)(nil)

// New builds Tracing from c. With c.Enabled false it returns a disabled
// Tracing (Observer returns nil, Shutdown does nothing).
func New(ctx context.Context, c Config) (*Tracing, error) {
	t := &Tracing{enabled: c.Enabled, sampler: Sampler(c.Sampler)}
	if !c.Enabled {
		return t, nil
	}
	if c.TracerProvider != nil {
		t.tp = c.TracerProvider
		t.tracer = t.tp.Tracer(ScopeName)
		return t, nil
	}
	if c.ServiceName == "" {
		return nil, fmt.Errorf("%w: no service name: set Config.ServiceName to the flow name (or OTEL_SERVICE_NAME)", ErrConfig)
	}
	exp := c.Exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, c); err != nil {
			return nil, err
		}
	}
	res, err := resource.Merge(resource.Empty(), resource.NewSchemaless(
		attribute.String("service.name", c.ServiceName),
		attribute.String("telemetry.sdk.language", "go"),
		attribute.String("telemetry.sdk.name", "opentelemetry"),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	var proc sdktrace.SpanProcessor
	if c.SyncExport {
		proc = sdktrace.NewSimpleSpanProcessor(exp)
	} else {
		bt := c.BatchTimeout
		if bt <= 0 {
			bt = time.Second
		}
		proc = sdktrace.NewBatchSpanProcessor(exp, sdktrace.WithBatchTimeout(bt))
	}
	t.owned = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(proc),
		sdktrace.WithIDGenerator(IDGenerator()),
		sdktrace.WithSampler(t.sampler),
	)
	t.tp = t.owned
	t.tracer = t.tp.Tracer(ScopeName)
	return t, nil
}

func newExporter(ctx context.Context, c Config) (sdktrace.SpanExporter, error) {
	ep := c.Endpoint
	proto := c.Protocol
	if proto == "" {
		proto = ProtocolHTTP
	}
	if ep == "" {
		ep = "http://localhost:4318/v1/traces"
		if proto == ProtocolGRPC {
			ep = "http://localhost:4317"
		}
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q: want http://host:port[/path]", ErrConfig, ep)
	}
	switch proto {
	case ProtocolHTTP:
		if u.Path == "" {
			u.Path = "/v1/traces"
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String())}
		if len(c.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
		}
		return exp, nil
	case ProtocolGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(u.String())}
		if len(c.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(c.Headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP/gRPC exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("%w: protocol %q: use %s or %s", ErrConfig, proto, ProtocolHTTP, ProtocolGRPC)
}

// Enabled reports whether tracing is on.
func (t *Tracing) Enabled() bool { return t != nil && t.enabled }

// Observer returns t as an engine.Observer, or nil when tracing is off, so
// that a disabled Tracing costs the engine nothing.
func (t *Tracing) Observer() engine.Observer {
	if !t.Enabled() {
		return nil
	}
	return t
}

// TracerProvider returns the provider spans are made with (nil when off).
// Operations may use it to trace their own work inside the node spans.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// ForceFlush exports every finished span now.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil || t.owned == nil {
		return nil
	}
	return t.owned.ForceFlush(ctx)
}

// Shutdown flushes and stops the TracerProvider New built. An external
// TracerProvider is left to its owner.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.owned == nil {
		return nil
	}
	return t.owned.Shutdown(ctx)
}

// invocation is the tracing state of one call or hop, carried in the
// context from RequestStarted/HopReceived to the node, operation and hop
// events of that invocation.
type invocation struct {
	root  trace.SpanContext // the request span (remote: created at the end)
	links []trace.Link      // for node spans: the hop that started them

	mu    sync.Mutex
	last  trace.SpanContext // the last node span started in this invocation
	retry *retryNote        // a retry waiting for the next attempt's span
}

type retryNote struct {
	node    string
	attempt int
	err     string
	delay   time.Duration
	at      time.Time
}

type invKey struct{}
type nodeKey struct{}
type opKey struct{}

func invFrom(ctx context.Context) *invocation {
	inv, _ := ctx.Value(invKey{}).(*invocation)
	return inv
}

// RequestStarted chooses the request span's identity and sampling decision
// and stores it in r.Trace. A caller's trace context in ctx becomes the
// request span's parent (and decides sampling).
func (t *Tracing) RequestStarted(ctx context.Context, r *engine.RequestInfo) context.Context {
	if !t.Enabled() {
		return ctx
	}
	caller := trace.SpanContextFromContext(ctx)
	tid := caller.TraceID()
	if !caller.IsValid() {
		tid = randomTraceID()
	}
	res := t.sampler.ShouldSample(sdktrace.SamplingParameters{
		ParentContext: ctx, TraceID: tid, Name: r.Flow, Kind: trace.SpanKindServer,
	})
	scc := trace.SpanContextConfig{TraceID: tid, SpanID: randomSpanID(), TraceState: res.Tracestate, Remote: true}
	if res.Decision == sdktrace.RecordAndSample {
		scc.TraceFlags = trace.FlagsSampled
	}
	root := trace.NewSpanContext(scc)
	if r.Trace == nil {
		r.Trace = make(map[string]string, 3)
	}
	r.Trace[KeyRoot] = formatTraceparent(root)
	if ts := root.TraceState(); ts.Len() > 0 {
		r.Trace[KeyRootState] = ts.String()
	}
	if caller.IsValid() {
		r.Trace[KeyRootParent] = formatTraceparent(caller)
	}
	ctx = trace.ContextWithRemoteSpanContext(ctx, root)
	return context.WithValue(ctx, invKey{}, &invocation{root: root})
}

// RequestEnded creates the request span with the ids chosen at
// RequestStarted and the request's start time, and ends it now.
func (t *Tracing) RequestEnded(ctx context.Context, r engine.RequestInfo, state string, err error) {
	if !t.Enabled() {
		return
	}
	rs := r.Trace[KeyRoot]
	if n := len(rs); n == 0 || (hexDigitValue(rs[n-1])&1) == 0 {
		return // no request span, or not sampled: skip parsing
	}
	root, ok := rootFromMap(r.Trace)
	if !ok || !root.IsSampled() {
		return
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrFlow.String(r.Flow), AttrRequestID.String(r.RequestID), AttrState.String(state)),
	}
	if !r.Started.IsZero() {
		opts = append(opts, trace.WithTimestamp(r.Started))
	}
	if parent, ok := parseTraceparent(r.Trace[KeyRootParent]); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	ctx = withPreset(ctx, &preset{traceID: root.TraceID(), spanID: root.SpanID(), sampled: true})
	name := r.Flow
	if name == "" {
		name = "request"
	}
	_, span := t.tracer.Start(ctx, name, opts...)
	if sc := span.SpanContext(); sc.TraceID() != root.TraceID() || sc.SpanID() != root.SpanID() {
		// An external TracerProvider without IDGenerator(): the span could
		// not take the ids its children point at; link them at least.
		span.AddLink(trace.Link{SpanContext: root, Attributes: []attribute.KeyValue{AttrLink.String("request")}})
	}
	if state == engine.StateFailed {
		msg := "request failed"
		if err != nil {
			span.RecordError(err)
			msg = err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// HopReceived reads the request span and the emitting hop's context from
// env.Trace. A hop without a request span (a request started with tracing
// off) is not traced.
func (t *Tracing) HopReceived(ctx context.Context, env *engine.Envelope) context.Context {
	if !t.Enabled() {
		return ctx
	}
	root, ok := rootFromMap(env.Trace)
	if !ok {
		return ctx
	}
	inv := &invocation{root: root}
	if root.IsSampled() {
		hop := trace.SpanContextFromContext(t.prop.Extract(context.Background(), propagation.MapCarrier(env.Trace)))
		if hop.IsValid() {
			inv.links = append(inv.links, trace.Link{SpanContext: hop, Attributes: []attribute.KeyValue{AttrLink.String("hop")}})
		}
		// The transport's own span (e.g. the gateway's queue worker, when it
		// propagates trace context in headers) is a different trace: link it.
		if tr := trace.SpanContextFromContext(ctx); tr.IsValid() && tr.TraceID() != root.TraceID() {
			inv.links = append(inv.links, trace.Link{SpanContext: tr, Attributes: []attribute.KeyValue{AttrLink.String("transport")}})
		}
	}
	ctx = trace.ContextWithRemoteSpanContext(ctx, root)
	return context.WithValue(ctx, invKey{}, inv)
}

// HopEmitted records a producer span for the hop (child of the node span
// that produced it) and injects its W3C context into env.Trace.
func (t *Tracing) HopEmitted(ctx context.Context, env *engine.Envelope) {
	if !t.Enabled() {
		return
	}
	inv := invFrom(ctx)
	if inv == nil || !inv.root.IsSampled() {
		return
	}
	inv.mu.Lock()
	parent := inv.last
	inv.mu.Unlock()
	if !parent.IsValid() {
		parent = inv.root
	}
	target := "?"
	if n := len(env.Cursor); n > 0 {
		target = env.Cursor[n-1].Node
	}
	attrs := []attribute.KeyValue{
		AttrFlow.String(env.Flow), AttrRequestID.String(env.RequestID),
		AttrHopID.String(env.HopID), AttrHopTarget.String(engine.InstanceID(env.Cursor)),
	}
	if env.Join != "" {
		attrs = append(attrs, AttrHopJoin.String(env.Join))
	}
	if env.DataRef != "" {
		attrs = append(attrs, AttrDataRef.String(env.DataRef))
	} else {
		attrs = append(attrs, AttrDataBytes.Int(len(env.Data)))
	}
	pctx := trace.ContextWithSpanContext(ctx, parent)
	pctx, span := t.tracer.Start(pctx, "hop "+target, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	if env.Trace == nil {
		env.Trace = make(map[string]string, 3)
	}
	if _, ok := env.Trace[KeyRoot]; !ok {
		env.Trace[KeyRoot] = formatTraceparent(inv.root)
	}
	t.prop.Inject(pctx, propagation.MapCarrier(env.Trace))
	span.End()
}

// HopRedelivered is seen on the node's span, as an event, when its
// redelivered hop runs (see NodeStarted): the reconciler's own pass has no
// request span to add to.
func (t *Tracing) HopRedelivered(context.Context, *engine.Envelope, string) {}

// NodeStarted starts the span of one attempt of a node, a child of the
// request span linked to the hop that started it.
func (t *Tracing) NodeStarted(ctx context.Context, n engine.NodeInfo) context.Context {
	if !t.Enabled() {
		return ctx
	}
	inv := invFrom(ctx)
	if inv == nil || !inv.root.IsSampled() {
		return ctx
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		AttrFlow.String(n.Flow), AttrRequestID.String(n.RequestID),
		AttrNode.String(n.Node), AttrNodeID.String(n.NodeID), AttrNodeKind.String(n.Kind),
		AttrAttempt.Int(n.Attempt))
	if n.BranchKey != "" {
		attrs = append(attrs, AttrBranchKey.String(n.BranchKey))
	}
	if cur := trace.SpanContextFromContext(ctx); cur.TraceID() != inv.root.TraceID() || cur.SpanID() != inv.root.SpanID() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, inv.root)
	}
	ctx, span := t.tracer.Start(ctx, n.NodeID,
		trace.WithAttributes(attrs...), trace.WithLinks(inv.links...))
	inv.mu.Lock()
	inv.last = span.SpanContext()
	note := inv.retry
	if note != nil && note.node == n.Node && note.attempt == n.Attempt-1 {
		inv.retry = nil
	} else {
		note = nil
	}
	inv.mu.Unlock()
	if n.Redelivered > 0 && n.Attempt == 1 {
		span.AddEvent(EventRedelivered, trace.WithAttributes(AttrRedelivered.Int(n.Redelivered)))
	}
	if note != nil {
		span.AddEvent(EventRetry, trace.WithTimestamp(note.at), trace.WithAttributes(
			AttrAttempt.Int(note.attempt), AttrRetryDelay.Int64(note.delay.Milliseconds()), AttrError.String(note.err)))
	}
	return context.WithValue(ctx, nodeKey{}, span)
}

// NodeRetry records a retry event. The engine reports it after the failed
// attempt's span has ended, so the event goes on the next attempt's span
// (timestamped when the retry was decided); if ctx still holds a live node
// span, the event goes there.
func (t *Tracing) NodeRetry(ctx context.Context, n engine.NodeInfo, err error, delay time.Duration) {
	if !t.Enabled() {
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if span, ok := ctx.Value(nodeKey{}).(trace.Span); ok && span.IsRecording() {
		span.AddEvent(EventRetry, trace.WithAttributes(
			AttrAttempt.Int(n.Attempt), AttrRetryDelay.Int64(delay.Milliseconds()), AttrError.String(msg)))
		return
	}
	inv := invFrom(ctx)
	if inv == nil || !inv.root.IsSampled() {
		return
	}
	inv.mu.Lock()
	inv.retry = &retryNote{node: n.Node, attempt: n.Attempt, err: msg, delay: delay, at: time.Now()}
	inv.mu.Unlock()
}

// NodeEnded ends the attempt's span, with error status when err is set.
func (t *Tracing) NodeEnded(ctx context.Context, _ engine.NodeInfo, err error) {
	if span, ok := ctx.Value(nodeKey{}).(trace.Span); ok {
		endSpan(span, err)
	}
}

// OperationStarted starts an operation span, a child of the node span.
func (t *Tracing) OperationStarted(ctx context.Context, op engine.OpInfo) context.Context {
	if !t.Enabled() {
		return ctx
	}
	if _, ok := ctx.Value(nodeKey{}).(trace.Span); !ok {
		return ctx // node not traced (sampled out or untraced request)
	}
	ctx, span := t.tracer.Start(ctx, opSpanName(op.Operation), trace.WithAttributes(
		AttrFlow.String(op.Flow), AttrRequestID.String(op.RequestID),
		AttrNode.String(op.Node), AttrNodeID.String(op.NodeID), AttrAttempt.Int(op.Attempt),
		AttrOperation.String(op.Operation), AttrOpIndex.Int(op.Index)))
	return context.WithValue(ctx, opKey{}, span)
}

// OperationEnded ends the operation span.
func (t *Tracing) OperationEnded(ctx context.Context, _ engine.OpInfo, err error) {
	if span, ok := ctx.Value(opKey{}).(trace.Span); ok {
		endSpan(span, err)
	}
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// opSpanName keeps span names low-cardinality: URL operations are named by
// their kind; the full id is in the faasflow.operation attribute.
func opSpanName(id string) string {
	for _, p := range [...]string{"http-req:", "callback:"} {
		if strings.HasPrefix(id, p) {
			return p[:len(p)-1]
		}
	}
	if id == "" {
		return "operation"
	}
	return id
}
