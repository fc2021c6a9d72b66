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
	reads atomic.Int32 // of request records
}

func (s *endedState) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if strings.HasPrefix(key, "r/") {
		s.reads.Add(1)
		if s.ended.Load() {
			return nil, 0, fmt.Errorf("state store went away: %w", faasflow.ErrStoreUnavailable)
		}
	}
	return s.Store.Get(ctx, key)
}

func (s *endedState) CompareAndSwap(ctx context.Context, key string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	nver, ok, err := s.Store.CompareAndSwap(ctx, key, ver, v, ttl)
	if ok {
		s.wrote(key, v)
	}
	return nver, ok, err
}

// Txn is the memory store's, watching for the write that ends the request
// (a node's last write, in one transaction with its own status).
func (s *endedState) Txn(ctx context.Context, ops ...faasflow.TxnOp) ([]faasflow.TxnResult, error) {
	res, err := s.Store.Txn(ctx, ops...)
	if err == nil {
		for i, op := range ops {
			if op.Kind == faasflow.TxnKindSwap && res[i].OK {
				s.wrote(op.Key, op.Value)
			}
		}
	}
	return res, err
}

func (s *endedState) wrote(key string, v []byte) {
	if strings.HasPrefix(key, "r/") && bytes.Contains(v, []byte(`"state":"succeeded"`)) {
		s.ended.Store(true)
	}
}
