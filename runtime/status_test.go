package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/runtime"
	"github.com/faas-flow/faas-flow/sdk"
)

func TestStatusOfMapsEveryErrorToItsStatus(t *testing.T) {
	nodeErr := &sdk.NodeError{Node: "a", Err: errors.New("boom")}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 200},
		{"bad signature", fmt.Errorf("x: %w", engine.ErrBadSignature), 401},
		{"unsigned caller", runtime.ErrUnauthorized, 401},
		{"malformed hop", engine.ErrMalformedHop, 400},
		{"unsupported hop", engine.ErrUnsupportedHop, 400},
		{"bad request id", engine.ErrBadRequestID, 400},
		{"bad input", runtime.ErrBadInput, 400},
		{"unknown request", engine.ErrUnknownRequest, 404},
		{"unknown route", runtime.ErrNoRoute, 404},
		{"method", runtime.ErrMethod, 405},
		{"too many running", fmt.Errorf("start: %w", runtime.ErrTooManyRunning), 429},
		{"wrong state", engine.ErrWrongState, 409},
		{"not finished", engine.ErrNotFinished, 409},
		{"wrong flow", engine.ErrWrongFlow, 409},
		{"definition changed", engine.ErrDefinitionChanged, 409},
		{"request exists", engine.ErrRequestExists, 409},
		{"stale hop", engine.ErrStaleHop, 401},
		{"hop dated in the future", engine.ErrFutureHop, 401},
		{"invalid cursor", engine.ErrInvalidCursor, 409},
		{"body too large", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), 413},
		{"node failed", nodeErr, 422},
		{"node failed on a timeout", &sdk.NodeError{Node: "a", Err: fmt.Errorf("%w: %w", sdk.ErrTimeout, context.DeadlineExceeded)}, 422},
		{"node failed on a store", &sdk.NodeError{Node: "a", Err: sdk.ErrStoreUnavailable}, 422},
		{"node panicked", &sdk.NodeError{Node: "a", Err: &sdk.PanicError{Where: "op", Value: 1}}, 422},
		{"configuration", engine.ErrConfig, 500},
		{"invalid definition", fmt.Errorf("%w", sdk.ErrInvalidDefinition), 500},
		{"panic in Define", &sdk.PanicError{Where: "Define", Value: "x"}, 500},
		{"unexpected", errors.New("disk on fire"), 500},
		{"gateway refused hop", fmt.Errorf("emit: %w", engine.ErrHopNotSent), 502},
		{"gateway refused hop after a timeout", fmt.Errorf("%w: %w", engine.ErrHopNotSent, context.DeadlineExceeded), 502},
		{"hop in progress", engine.ErrHopInProgress, 503},
		{"store unavailable", fmt.Errorf("read: %w", sdk.ErrStoreUnavailable), 503},
		{"shutting down", runtime.ErrShuttingDown, 503},
		{"canceled", context.Canceled, 503},
		{"timeout outside a node", sdk.ErrTimeout, 504},
		{"deadline", context.DeadlineExceeded, 504},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := runtime.StatusOf(tc.err); got != tc.want {
				t.Fatalf("StatusOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
