package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faas-flow/faas-flow/engine"
)

// Metric names.
const (
	NameRequestsStarted   = "faasflow_requests_started_total"
	NameRequests          = "faasflow_requests_total"
	NameRequestDuration   = "faasflow_request_duration_seconds"
	NameNodeDuration      = "faasflow_node_duration_seconds"
	NameNodeRetries       = "faasflow_node_retries_total"
	NameNodeFailures      = "faasflow_node_failures_total"
	NameHopsEmitted       = "faasflow_hops_emitted_total"
	NameHopsReceived      = "faasflow_hops_received_total"
	NameHopsRedelivered   = "faasflow_hops_redelivered_total"
	NameHopsInFlight      = "faasflow_hops_in_flight"
	NameOperationDuration = "faasflow_operation_duration_seconds"
)

// Operation kinds (the operation_kind label).
const (
	KindModify   = "modify"
	KindFunction = "function"
	KindRequest  = "request"
	KindCallback = "callback"
)

// Options configure Metrics.
type Options struct {
	// Registry receives the metrics. Default: a new registry.
	Registry *prometheus.Registry
	// DurationBuckets are the histogram buckets (seconds) of node,
	// operation and request durations. Default: 1ms to ~4.4min, ×4.
	DurationBuckets []float64
	// RuntimeMetrics also registers the Go runtime and process collectors.
	RuntimeMetrics bool
}

// Metrics is an engine.Observer recording Prometheus metrics. Safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requestsStarted *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	nodeDuration    *prometheus.HistogramVec
	nodeRetries     *prometheus.CounterVec
	nodeFailures    *prometheus.CounterVec
	hopsEmitted     *prometheus.CounterVec
	hopsReceived    *prometheus.CounterVec
	hopsRedelivered *prometheus.CounterVec
	hopsInFlight    *prometheus.GaugeVec
	opDuration      *prometheus.HistogramVec
}

var _ engine.Observer = (*Metrics)(nil)

// New creates the metrics and registers them in o.Registry (or a new one).
func New(o Options) (*Metrics, error) {
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	buckets := o.DurationBuckets
	if len(buckets) == 0 {
		buckets = prometheus.ExponentialBuckets(0.001, 4, 10)
	}
	m := &Metrics{
		reg: reg,
		requestsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRequestsStarted, Help: "Requests started (their first call ran in this process).",
		}, []string{"flow"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameRequests, Help: "Requests that ended, by final state (succeeded, failed, stopped), counted by the process that ended them.",
		}, []string{"flow", "state"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameRequestDuration, Help: "Time from a request's first call to its end, by final state.", Buckets: buckets,
		}, []string{"flow", "state"}),
		nodeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameNodeDuration, Help: "Duration of one attempt of a node (its operations), by node definition id.", Buckets: buckets,
		}, []string{"flow", "node"}),
		nodeRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameNodeRetries, Help: "Node attempts that failed and were scheduled for a retry.",
		}, []string{"flow", "node"}),
		nodeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameNodeFailures, Help: "Node attempts that ended with an error (retried or not; failures minus retries = nodes that failed for good).",
		}, []string{"flow", "node"}),
		hopsEmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameHopsEmitted, Help: "Hops (async self-invocations) sealed and handed to the transport.",
		}, []string{"flow"}),
		hopsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameHopsReceived, Help: "Hops received and verified (including the first hop of a request and duplicates).",
		}, []string{"flow"}),
		hopsRedelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameHopsRedelivered, Help: "Hops the reconciler sent again because their node stalled, by reason (unclaimed, lease expired, completion lease expired, branches finished).",
		}, []string{"flow", "reason"}),
		hopsInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameHopsInFlight, Help: "Hops being handled by this process now (see Metrics.TrackHops).",
		}, []string{"flow"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: NameOperationDuration, Help: "Duration of one operation, by kind (modify, function, request, callback).", Buckets: buckets,
		}, []string{"flow", "operation_kind"}),
	}
	cs := []prometheus.Collector{m.requestsStarted, m.requests, m.requestDuration, m.nodeDuration, m.nodeRetries,
		m.nodeFailures, m.hopsEmitted, m.hopsReceived, m.hopsRedelivered, m.hopsInFlight, m.opDuration}
	if o.RuntimeMetrics {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format (for
// /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// TrackHops wraps the function that handles a sealed hop (Engine.Receive) so
// faasflow_hops_in_flight{flow} counts the hops this process is handling.
// The engine has no end-of-hop event, so the gauge needs this wrapper.
func (m *Metrics) TrackHops(flow string, receive func(ctx context.Context, hop []byte) error) func(ctx context.Context, hop []byte) error {
	g := m.hopsInFlight.WithLabelValues(flow)
	return func(ctx context.Context, hop []byte) error {
		g.Inc()
		defer g.Dec()
		return receive(ctx, hop)
	}
}

type nodeStartKey struct{}
type opStartKey struct{}

// RequestStarted counts a started request.
func (m *Metrics) RequestStarted(ctx context.Context, r *engine.RequestInfo) context.Context {
	m.requestsStarted.WithLabelValues(r.Flow).Inc()
	return ctx
}

// RequestEnded counts an ended request and observes its duration.
func (m *Metrics) RequestEnded(_ context.Context, r engine.RequestInfo, state string, _ error) {
	m.requests.WithLabelValues(r.Flow, state).Inc()
	if !r.Started.IsZero() {
		if d := time.Since(r.Started); d >= 0 {
			m.requestDuration.WithLabelValues(r.Flow, state).Observe(d.Seconds())
		}
	}
}

// HopReceived counts a received hop.
func (m *Metrics) HopReceived(ctx context.Context, env *engine.Envelope) context.Context {
	m.hopsReceived.WithLabelValues(env.Flow).Inc()
	return ctx
}

// HopEmitted counts an emitted hop.
func (m *Metrics) HopEmitted(_ context.Context, env *engine.Envelope) {
	m.hopsEmitted.WithLabelValues(env.Flow).Inc()
}

// HopRedelivered counts a hop the reconciler sent again.
func (m *Metrics) HopRedelivered(_ context.Context, env *engine.Envelope, reason string) {
	m.hopsRedelivered.WithLabelValues(env.Flow, reason).Inc()
}

// NodeStarted remembers when the attempt started.
func (m *Metrics) NodeStarted(ctx context.Context, _ engine.NodeInfo) context.Context {
	return context.WithValue(ctx, nodeStartKey{}, time.Now())
}

// NodeRetry counts a retry.
func (m *Metrics) NodeRetry(_ context.Context, n engine.NodeInfo, _ error, _ time.Duration) {
	m.nodeRetries.WithLabelValues(n.Flow, n.NodeID).Inc()
}

// NodeEnded observes the attempt's duration and counts a failed attempt.
func (m *Metrics) NodeEnded(ctx context.Context, n engine.NodeInfo, err error) {
	if start, ok := ctx.Value(nodeStartKey{}).(time.Time); ok {
		m.nodeDuration.WithLabelValues(n.Flow, n.NodeID).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		m.nodeFailures.WithLabelValues(n.Flow, n.NodeID).Inc()
	}
}

// OperationStarted remembers when the operation started.
func (m *Metrics) OperationStarted(ctx context.Context, _ engine.OpInfo) context.Context {
	return context.WithValue(ctx, opStartKey{}, time.Now())
}

// OperationEnded observes the operation's duration.
func (m *Metrics) OperationEnded(ctx context.Context, op engine.OpInfo, _ error) {
	if start, ok := ctx.Value(opStartKey{}).(time.Time); ok {
		m.opDuration.WithLabelValues(op.Flow, OperationKind(op.Operation)).Observe(time.Since(start).Seconds())
	}
}

// OperationKind derives the operation_kind label from an operation id
// (sdk.Op.ID): "http-req:<url>" is a request, "callback:<url>" a callback,
// "modifier-<n>" a modify; anything else is a function call (Apply) or a
// custom operation, which the id alone cannot tell apart.
func OperationKind(id string) string {
	switch {
	case strings.HasPrefix(id, "http-req:"):
		return KindRequest
	case strings.HasPrefix(id, "callback:"):
		return KindCallback
	case strings.HasPrefix(id, "modifier-") && isDigits(id[len("modifier-"):]):
		return KindModify
	}
	return KindFunction
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
