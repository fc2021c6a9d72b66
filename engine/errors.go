package engine

import "errors"

// Errors returned by the engine. Callers branch on them with errors.Is; the
// runtime maps them to HTTP statuses (see runtime.StatusOf).
var (
	// ErrConfig reports invalid engine options.
	ErrConfig = errors.New("invalid engine configuration")
	// ErrUnknownRequest: no record of the request (never started, or its
	// retention has passed). Never reported as "finished".
	ErrUnknownRequest = errors.New("unknown request")
	// ErrRequestExists: a caller-supplied request id is already in use.
	ErrRequestExists = errors.New("request id already in use")
	// ErrWrongState: the request is not in a state that allows the call
	// (pause of a finished request, a hop of a stopped request, ...).
	ErrWrongState = errors.New("request is not in a state that allows this")
	// ErrStaleHop: the hop was signed longer ago than MaxHopAge.
	ErrStaleHop = errors.New("hop is too old")
	// ErrFutureHop: the hop is dated later than this process's clock plus
	// MaxClockSkew.
	ErrFutureHop = errors.New("hop is dated in the future")
	// ErrWrongFlow: the hop names another flow.
	ErrWrongFlow = errors.New("hop belongs to another flow")
	// ErrWrongRequest: the hop names another request than the one it was
	// delivered for (see Engine.ReceiveFor).
	ErrWrongRequest = errors.New("hop belongs to another request")
	// ErrDefinitionChanged: the hop was emitted by a flow definition with a
	// different structure; the request is failed.
	ErrDefinitionChanged = errors.New("flow definition changed while the request was running")
	// ErrHopInProgress: another delivery of the same hop holds the node's
	// lease. Transports retry later.
	ErrHopInProgress = errors.New("hop is being processed by another delivery")
	// ErrBadRequestID: a caller-supplied request id has forbidden characters.
	ErrBadRequestID = errors.New("invalid request id")
	// ErrNotFinished: the result of a running request was asked for.
	ErrNotFinished = errors.New("request has not finished")
	// ErrHopNotSent wraps the error of a Transport that did not accept a
	// hop.
	ErrHopNotSent = errors.New("hop was not sent")
	// ErrBadListing: a listing of requests was asked with an unknown
	// state, a limit out of range or a cursor this flow did not issue.
	ErrBadListing = errors.New("invalid request listing")
	// ErrInvalidCursor: a hop's cursor names no node of the definition.
	ErrInvalidCursor = errors.New("hop cursor names no node of this flow")
)
