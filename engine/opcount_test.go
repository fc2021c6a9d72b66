package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// countingState counts StateStore calls by kind.
type countingState struct {
	sdk.StateStore
	reads, writes atomic.Int64
}

func (c *countingState) Get(ctx context.Context, k string) ([]byte, int64, error) {
	c.reads.Add(1)
	return c.StateStore.Get(ctx, k)
}
func (c *countingState) List(ctx context.Context, p string) ([]sdk.KV, error) {
	c.reads.Add(1)
	return c.StateStore.List(ctx, p)
}
func (c *countingState) Create(ctx context.Context, k string, v []byte, ttl time.Duration) (int64, bool, error) {
	c.writes.Add(1)
	return c.StateStore.Create(ctx, k, v, ttl)
}
func (c *countingState) CompareAndSwap(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration) (int64, bool, error) {
	c.writes.Add(1)
	return c.StateStore.CompareAndSwap(ctx, k, ver, v, ttl)
}

// countingSwapState is countingState with the optional sdk.SwapReader of
// the store it wraps; a compare-and-swap-and-read is one write.
type countingSwapState struct{ *countingState }

func (c countingSwapState) CompareAndSwapRead(ctx context.Context, k string, ver int64, v []byte, ttl time.Duration, read string) (sdk.SwapRead, error) {
	c.writes.Add(1)
	return c.StateStore.(sdk.SwapReader).CompareAndSwapRead(ctx, k, ver, v, ttl, read)
}

// TestStateStoreCallsPerChainHop pins how many StateStore calls one hop of
// a chain costs, since each is a network round trip on etcd.
func TestStateStoreCallsPerChainHop(t *testing.T) {
	const n = 10
	tests := []struct {
		name          string
		store         func(*countingState) sdk.StateStore
		reads, writes float64
	}{
		// Per hop: read the request record, claim the node (one CAS on the
		// version the hop carries), create the child's record, mark the node
		// succeeded, re-read the request record. Plus the request's own
		// writes (create, finish, cleanup) spread over the nodes.
		{"plain StateStore", func(c *countingState) sdk.StateStore { return c }, 3, 3.5},
		// With a SwapReader the claim and the final status write each read
		// the request record in the same round trip.
		{"SwapReader", func(c *countingState) sdk.StateStore { return countingSwapState{c} }, 1, 3.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := &countingState{StateStore: statemem.New()}
			h, err := flowtest.New(asyncChain(n), flowtest.WithWorkers(1), flowtest.WithStores(tt.store(cs), nil),
				flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = time.Hour }))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if _, err := h.Run(context.Background(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			r0, w0 := cs.reads.Load(), cs.writes.Load()
			if _, err := h.Run(context.Background(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			reads, writes := float64(cs.reads.Load()-r0)/n, float64(cs.writes.Load()-w0)/n
			t.Logf("per node of a %d-node chain: %.1f reads, %.1f writes", n, reads, writes)
			if reads > tt.reads || writes > tt.writes {
				t.Fatalf("%.1f reads and %.1f writes per hop; budget is %.1f reads and %.1f writes", reads, writes, tt.reads, tt.writes)
			}
		})
	}
}
