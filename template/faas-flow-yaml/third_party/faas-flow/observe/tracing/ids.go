package tracing

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// presetKey carries the ids (and sampling decision) the request span must
// get when it is finally created at the end of the request.
type presetKey struct{}

type preset struct {
	traceID trace.TraceID
	spanID  trace.SpanID
	sampled bool
}

func withPreset(ctx context.Context, p *preset) context.Context {
	return context.WithValue(ctx, presetKey{}, p)
}

func presetFrom(ctx context.Context) *preset {
	p, _ := ctx.Value(presetKey{}).(*preset)
	return p
}

// IDGenerator returns an sdktrace.IDGenerator that gives a span the ids
// preset in its start context (used for the request span, whose ids were
// chosen when the request started), and random ids otherwise. Pass it to
// sdktrace.WithIDGenerator when building a TracerProvider for Config.
func IDGenerator() sdktrace.IDGenerator { return idGenerator{} }

type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p := presetFrom(ctx); p != nil {
		return p.traceID, p.spanID
	}
	return randomTraceID(), randomSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, tid trace.TraceID) trace.SpanID {
	if p := presetFrom(ctx); p != nil && p.traceID == tid {
		return p.spanID
	}
	return randomSpanID()
}

// randomTraceID and randomSpanID use the runtime's per-thread generator
// (math/rand/v2's top level functions): fast, safe for concurrent use, and
// ids need to be unique, not secret.
func randomTraceID() trace.TraceID {
	var t trace.TraceID
	for !t.IsValid() {
		binary.BigEndian.PutUint64(t[:8], rand.Uint64())
		binary.BigEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

func randomSpanID() trace.SpanID {
	var s trace.SpanID
	for !s.IsValid() {
		binary.BigEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// Sampler wraps base so that (1) the request span follows the decision taken
// when the request started, even if it is created in another process or
// after a configuration change, and (2) every span with a parent follows the
// parent's decision, so a request is traced all or nothing. Spans without a
// parent are decided by base. Pass it to sdktrace.WithSampler when building
// a TracerProvider for Config.
func Sampler(base sdktrace.Sampler) sdktrace.Sampler {
	if base == nil {
		base = sdktrace.AlwaysSample()
	}
	return requestSampler{base: base}
}

type requestSampler struct{ base sdktrace.Sampler }

func (s requestSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	psc := trace.SpanContextFromContext(p.ParentContext)
	if pr := presetFrom(p.ParentContext); pr != nil && pr.traceID == p.TraceID {
		return decision(pr.sampled, psc.TraceState())
	}
	if psc.IsValid() {
		return decision(psc.IsSampled(), psc.TraceState())
	}
	return s.base.ShouldSample(p)
}

func decision(sampled bool, ts trace.TraceState) sdktrace.SamplingResult {
	if sampled {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: ts}
}

func (s requestSampler) Description() string {
	return "FaasFlowRequest{" + s.base.Description() + "}"
}
