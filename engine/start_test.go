package engine_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

// TestReusedRequestIDIsRefusedAndWritesNothing starts a request with an id
// whose request has ended and been cleaned up (its record is kept, its node
// records are gone): the start must fail with ErrRequestExists and leave the
// store exactly as it was, on a Transactor (where one transaction creates the
// record and the start node's record) and on a plain store.
func TestReusedRequestIDIsRefusedAndWritesNothing(t *testing.T) {
	tests := []struct {
		name  string
		store func(*countingState) sdk.StateStore
	}{
		{"plain StateStore", func(c *countingState) sdk.StateStore { return c }},
		{"Transactor", func(c *countingState) sdk.StateStore { return countingTxState{c} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cs := &countingState{StateStore: statemem.New()}
			h, err := flowtest.New(asyncChain(3), flowtest.WithWorkers(1), flowtest.WithStores(tt.store(cs), nil),
				flowtest.WithEngineOptions(func(o *engine.Options) { o.Retention = time.Hour }))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			first, err := h.Run(ctx, []byte("x"), flowtest.WithRequestID("order-1"))
			if err != nil || first.State != engine.StateSucceeded {
				t.Fatalf("first request: %+v, %v", first, err)
			}
			before, err := cs.StateStore.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Engine.Start(ctx, engine.StartRequest{ID: "order-1", Body: []byte("y")})
			if !errors.Is(err, engine.ErrRequestExists) {
				t.Fatalf("second start with the same id: %v, want ErrRequestExists", err)
			}
			if err := h.Transport.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := cs.StateStore.List(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("the refused start changed the store:\nbefore %+v\nafter  %+v", before, after)
			}
			if out, _, err := h.Engine.Result(ctx, "order-1"); err != nil || string(out) != string(first.Output) {
				t.Fatalf("first request's result is now %q, %v; want %q", out, err, first.Output)
			}
		})
	}
}
