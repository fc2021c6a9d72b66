package gateway

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus collectors, registered on one
// registry (never the global one).
type Metrics struct {
	invocations *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	restarts    *prometheus.CounterVec
	kills       *prometheus.CounterVec
	counts      sync.Map // function name -> *atomic.Int64 (for invocationCount)
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_total",
			Help: "Function invocations through the gateway, by function (name.namespace) and HTTP status code.",
		}, []string{"function_name", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_functions_seconds",
			Help:    "Duration of synchronous function invocations, by function and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"function_name", "code"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasflow_function_restarts_total",
			Help: "Function processes restarted by the supervisor after they exited.",
		}, []string{"function_name"}),
		kills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasflow_function_kills_total",
			Help: "Function processes the supervisor killed, by reason: memory (over the function's memory limit) or timeout (a call ran past its exec timeout).",
		}, []string{"function_name", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.invocations, m.duration, m.restarts, m.kills} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(fn, code string, seconds float64) {
	m.invocations.WithLabelValues(fn, code).Inc()
	m.duration.WithLabelValues(fn, code).Observe(seconds)
}

func (m *Metrics) countInvocation(name string) {
	v, _ := m.counts.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (m *Metrics) invocationCount(name string) float64 {
	if v, ok := m.counts.Load(name); ok {
		return float64(v.(*atomic.Int64).Load())
	}
	return 0
}

// Restarted counts a supervisor restart of fn.
func (m *Metrics) Restarted(fn string) { m.restarts.WithLabelValues(fn).Inc() }

// Killed counts a process of fn the supervisor killed, for reason
// (supervisor.KillMemory or supervisor.KillTimeout).
func (m *Metrics) Killed(fn, reason string) { m.kills.WithLabelValues(fn, reason).Inc() }
