package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
)

func TestTheRequestLogAllocatesNothingWhenItsLevelIsOff(t *testing.T) {
	l := requestLog{log: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))}
	ctx, info, err := context.Background(), engine.NodeInfo{Flow: "f", RequestID: "r", Node: "a", Attempt: 1}, errors.New("x")
	req := engine.RequestInfo{Flow: "f", RequestID: "r", Started: time.Now()}
	allocs := testing.AllocsPerRun(100, func() {
		nctx := l.NodeStarted(ctx, info)
		l.NodeRetry(nctx, info, err, time.Millisecond)
		l.NodeEnded(nctx, info, err)
		l.NodeEnded(l.NodeStarted(ctx, info), info, nil)
		l.RequestEnded(l.RequestStarted(ctx, &req), req, engine.StateFailed, err)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per node run and request with log_level=error, want 0", allocs)
	}
}
