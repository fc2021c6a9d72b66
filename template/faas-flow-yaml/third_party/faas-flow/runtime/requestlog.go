package runtime

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
)

// Outcomes of a node run in the request log.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeRetried   = "retried"
	OutcomeTimedOut  = "timed out"
)

// LogKeyRequestID is the attribute that names the request in every line of
// the request log ("faasflow logs --request" filters on it).
const LogKeyRequestID = "request_id"

// requestLog is the engine.Observer that writes the request log: one line
// when a request starts and when it ends (its state and duration), and one
// per node run (attempt, duration, outcome, error). Succeeded runs and the
// ends of succeeded requests are at level info, the rest at warn; when the
// logger is off for a level, the observer does no work for it beyond asking.
type requestLog struct {
	engine.NopObserver
	log *slog.Logger
}

// nodeRunKey keys the *nodeRun NodeStarted attaches to the context of one
// node run.
type nodeRunKey struct{}

// nodeRun is what NodeEnded needs of the run NodeStarted and NodeRetry saw.
type nodeRun struct {
	start   time.Time
	retried bool
	delay   time.Duration
}

// RequestStarted implements engine.Observer.
func (l requestLog) RequestStarted(ctx context.Context, r *engine.RequestInfo) context.Context {
	if l.log.Enabled(ctx, slog.LevelInfo) {
		l.log.LogAttrs(ctx, slog.LevelInfo, "request started",
			slog.String("flow", r.Flow), slog.String(LogKeyRequestID, r.RequestID))
	}
	return ctx
}

// RequestEnded implements engine.Observer.
func (l requestLog) RequestEnded(ctx context.Context, r engine.RequestInfo, state string, err error) {
	level := slog.LevelInfo
	if state != engine.StateSucceeded {
		level = slog.LevelWarn
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("flow", r.Flow), slog.String(LogKeyRequestID, r.RequestID), slog.String("state", state),
	}
	if !r.Started.IsZero() {
		attrs = append(attrs, slog.Duration("duration", time.Since(r.Started)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.log.LogAttrs(ctx, level, "request ended", attrs...)
}

// NodeStarted implements engine.Observer: it notes the start of the run,
// unless no line of a node run would be written.
func (l requestLog) NodeStarted(ctx context.Context, _ engine.NodeInfo) context.Context {
	if !l.log.Enabled(ctx, slog.LevelWarn) { // the lowest level of a failed run's line
		return ctx
	}
	return context.WithValue(ctx, nodeRunKey{}, &nodeRun{start: time.Now()})
}

// NodeRetry implements engine.Observer: the run NodeEnded reports next
// failed and is retried after delay.
func (l requestLog) NodeRetry(ctx context.Context, _ engine.NodeInfo, _ error, delay time.Duration) {
	if run, ok := ctx.Value(nodeRunKey{}).(*nodeRun); ok {
		run.retried, run.delay = true, delay
	}
}

// NodeEnded implements engine.Observer: the line of the node run.
func (l requestLog) NodeEnded(ctx context.Context, n engine.NodeInfo, err error) {
	run, ok := ctx.Value(nodeRunKey{}).(*nodeRun)
	if !ok {
		return
	}
	outcome, level := nodeOutcome(run, err)
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("flow", n.Flow), slog.String(LogKeyRequestID, n.RequestID), slog.String("node", n.Node),
		slog.Int("attempt", n.Attempt), slog.Duration("duration", time.Since(run.start)), slog.String("outcome", outcome),
	}
	if run.retried {
		attrs = append(attrs, slog.Duration("retry_in", run.delay))
	}
	if n.Redelivered > 0 {
		attrs = append(attrs, slog.Int("redelivered", n.Redelivered))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.log.LogAttrs(ctx, level, "node ended", attrs...)
}

// nodeOutcome names how a node run ended, and the level of its line.
func nodeOutcome(run *nodeRun, err error) (string, slog.Level) {
	switch {
	case err == nil:
		return OutcomeSucceeded, slog.LevelInfo
	case run.retried:
		return OutcomeRetried, slog.LevelWarn
	case errors.Is(err, sdk.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimedOut, slog.LevelWarn
	}
	return OutcomeFailed, slog.LevelWarn
}
