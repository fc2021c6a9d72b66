package runtime

import (
	"context"
	"errors"
	"net/http"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
)

// Errors of the HTTP layer itself.
var (
	// ErrBadInput reports a malformed request (bad header, query or path).
	ErrBadInput = errors.New("bad request")
	// ErrUnauthorized reports a new request without a valid X-Hub-Signature
	// (authenticate_request=true).
	ErrUnauthorized = errors.New("request signature missing or wrong")
	// ErrNoRoute reports a path the flow function does not serve.
	ErrNoRoute = errors.New("no such route")
	// ErrMethod reports a method the route does not accept.
	ErrMethod = errors.New("method not allowed")
	// ErrShuttingDown reports a request received while the server drains.
	ErrShuttingDown = errors.New("shutting down")
	// ErrTooManyRunning reports a new request refused because the flow
	// runs max_running_requests already.
	ErrTooManyRunning = errors.New("the flow runs as many requests as max_running_requests allows")
)

// StatusOf maps an error from the engine, the stores or the HTTP layer to the
// status the flow function answers with. It is the only place that decides
// statuses. The order of the checks matters: a node failure that wraps a
// timeout or a store error is a node failure.
//
//	400 malformed input, hop or request id      401 bad or missing signature, hop too old or dated in the future,
//	                                                missing or wrong login on a control route
//	404 unknown request or route                405 wrong method
//	409 wrong state, finished, other flow, redeployed definition, id in use
//	413 body too large                          422 the flow failed (a node, an aggregator...)
//	429 max_running_requests reached (a new request only)
//	500 our fault (configuration, definition)   502 the gateway refused a hop
//	503 store unavailable, hop in progress, draining
//	504 timed out outside a node
//
// A failed flow is 422, not 5xx: the function worked, the flow's own code or
// a function it called failed. Queue workers retry 5xx, which must not re-run
// a failed flow.
func StatusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, sdk.ErrNodeFailed):
		// Checked first: whatever the node's error wraps (a timeout, an
		// unavailable store), the request has failed for good.
		return http.StatusUnprocessableEntity
	case errors.Is(err, engine.ErrBadSignature), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrCredentials),
		errors.Is(err, engine.ErrStaleHop), errors.Is(err, engine.ErrFutureHop):
		return http.StatusUnauthorized
	case errors.Is(err, engine.ErrMalformedHop), errors.Is(err, engine.ErrUnsupportedHop),
		errors.Is(err, engine.ErrBadRequestID), errors.Is(err, ErrBadInput), errors.Is(err, engine.ErrBadListing),
		errors.Is(err, engine.ErrWrongRequest):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrUnknownRequest), errors.Is(err, ErrNoRoute):
		return http.StatusNotFound
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrTooManyRunning):
		return http.StatusTooManyRequests
	case errors.Is(err, engine.ErrHopInProgress), errors.Is(err, sdk.ErrStoreUnavailable),
		errors.Is(err, ErrShuttingDown):
		return http.StatusServiceUnavailable
	case errors.Is(err, engine.ErrWrongState), errors.Is(err, engine.ErrNotFinished),
		errors.Is(err, engine.ErrWrongFlow), errors.Is(err, engine.ErrDefinitionChanged),
		errors.Is(err, engine.ErrRequestExists), errors.Is(err, engine.ErrRedriveExpired),
		errors.Is(err, engine.ErrInvalidCursor):
		return http.StatusConflict
	case errors.Is(err, engine.ErrHopNotSent):
		return http.StatusBadGateway
	case errors.Is(err, engine.ErrConfig), errors.Is(err, sdk.ErrInvalidDefinition):
		return http.StatusInternalServerError
	case errors.Is(err, sdk.ErrPanic):
		// A panic outside a node (in Define): the deployed flow is broken.
		return http.StatusInternalServerError
	case errors.Is(err, sdk.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
