package engine

import (
	"context"
	"fmt"
)

// Running counts the flow's unfinished requests (running or paused): the
// entries of the reconciler's index, which holds a request from its start
// until it has ended and been drained. A flow of one node keeps no
// requests: 0. Its cost is that of the unfinished requests, never that of
// history.
func (e *Engine) Running(ctx context.Context) (int, error) {
	if e.flow.sync {
		return 0, nil
	}
	entries, err := e.o.StateStore.List(ctx, activePrefix(e.o.Flow))
	if err != nil {
		return 0, fmt.Errorf("list unfinished requests: %w", err)
	}
	return len(entries), nil
}
