package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not reached in 10s")
}

// countingState is a memory state store that counts creates.
type countingState struct {
	faasflow.StateStore
	creates atomic.Int32
}

func (c *countingState) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, bool, error) {
	c.creates.Add(1)
	return c.StateStore.Create(ctx, key, value, ttl)
}

func newCountingState() *countingState { return &countingState{StateStore: statememory.New()} }

// countingObserver counts node and request-end events.
type countingObserver struct {
	engine.NopObserver
	nodes atomic.Int32
	ended atomic.Int32
}

func (o *countingObserver) NodeEnded(context.Context, engine.NodeInfo, error) { o.nodes.Add(1) }
func (o *countingObserver) RequestEnded(context.Context, engine.RequestInfo, string, error) {
	o.ended.Add(1)
}

// endedState is a memory state store whose reads of request records fail
// once a request has succeeded, like a store that went away right after
// the hop that ended the request wrote its record.
type endedState struct {
	*statememory.Store
	ended atomic.Bool
}

func (s *endedState) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if s.ended.Load() && strings.HasPrefix(key, "r/") {
		return nil, 0, fmt.Errorf("state store went away: %w", faasflow.ErrStoreUnavailable)
	}
	return s.Store.Get(ctx, key)
}

func (s *endedState) CompareAndSwap(ctx context.Context, key string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	nver, ok, err := s.Store.CompareAndSwap(ctx, key, ver, v, ttl)
	if ok && strings.HasPrefix(key, "r/") && bytes.Contains(v, []byte(`"state":"succeeded"`)) {
		s.ended.Store(true)
	}
	return nver, ok, err
}
