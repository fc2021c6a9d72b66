package runtime

import (
	"context"
	"fmt"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/observe/metrics"
	"github.com/faas-flow/faas-flow/observe/tracing"
)

// Observability is the Extension Run installs by default: OpenTelemetry
// tracing configured from the environment (enable_tracing, trace_server,
// OTEL_*; off unless asked for) with the flow name as service name, and
// Prometheus metrics served on GET /metrics.
func Observability(getenv func(string) string) Extension {
	return func(ctx context.Context, cfg Config) (Extras, error) {
		m, err := metrics.New(metrics.Options{RuntimeMetrics: true})
		if err != nil {
			return Extras{}, fmt.Errorf("metrics: %w", err)
		}
		tc, err := tracing.ConfigFromEnv(getenv)
		if err != nil {
			return Extras{}, fmt.Errorf("tracing: %w", err)
		}
		if tc.ServiceName == "" {
			tc.ServiceName = cfg.Flow
		}
		if tc.ServiceName == "" {
			tc.ServiceName = "faasflow"
		}
		tr, err := tracing.New(ctx, tc)
		if err != nil {
			return Extras{}, fmt.Errorf("tracing: %w", err)
		}
		return Extras{
			Observer: engine.Observers(tr.Observer(), m),
			Metrics:  m.Handler(),
			Shutdown: tr.Shutdown,
		}, nil
	}
}
