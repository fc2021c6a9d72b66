package engine

import (
	"context"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Transport carries a sealed hop to an invocation of the same flow, which
// hands it to Engine.Receive (through the OpenFaaS gateway's async
// endpoint, a queue, or in process: see the packages under transport/). The
// engine tolerates duplicated, reordered and delayed hops. Send returning
// nil means the transport accepted the hop.
type Transport interface {
	Send(ctx context.Context, requestID string, hop []byte) error
}

// Call is one Apply, Request or Callback operation for an Invoker.
type Call struct {
	Kind      sdk.OpKind // sdk.OpFunction, sdk.OpRequest or sdk.OpCallback
	Target    string     // function name or URL
	Data      []byte
	Options   *sdk.Options
	Flow      string
	RequestID string
	Node      string // instance id of the node
}

// Invoker performs the calls of Apply, Request and Callback operations. The
// runtime's invoker speaks HTTP to the gateway; tests use fakes.
type Invoker interface {
	Invoke(ctx context.Context, call *Call) ([]byte, error)
}

// Completion is the outcome of a request, sent to its callback URL (URL
// is empty when the request has none) and to Options.Events.
type Completion struct {
	URL       string
	Flow      string
	RequestID string
	State     string // StateSucceeded, StateFailed or StateStopped
	Result    []byte
	Error     string
	// Started and Ended are when the request began and ended. Ended is
	// the time recorded with the end, so every report of one end (the
	// reconciler may report it again after a crash) carries the same.
	Started, Ended time.Time
}

// Notifier delivers completion callbacks. It should retry on its own; the
// engine calls it once per request, from the invocation that ended it.
type Notifier interface {
	Notify(ctx context.Context, c Completion) error
}

// RequestInfo describes a request for an Observer.
type RequestInfo struct {
	Flow      string
	RequestID string
	Started   time.Time
	// Trace is persisted in the request record and copied into every hop;
	// an Observer stores the request span's identity in it.
	Trace map[string]string
}

// NodeInfo describes one attempt of a node for an Observer.
type NodeInfo struct {
	Flow      string
	RequestID string
	Node      string // instance id, e.g. "split[a]/fetch"
	NodeID    string // definition id, e.g. "split/fetch"
	Kind      string // "plain", "conditional", "foreach"
	BranchKey string // innermost branch key, if any
	Attempt   int
	// Redelivered counts the times the reconciler sent the node's hop
	// again before this delivery.
	Redelivered int
}

// OpInfo describes one operation for an Observer.
type OpInfo struct {
	NodeInfo
	Operation string
	Index     int
}

// Observer receives the engine's events; package tracing turns them into
// OpenTelemetry spans and package metrics into Prometheus metrics. Methods
// returning a context may attach values (spans) that the matching End call
// reads back. Implementations must be safe for concurrent use and cheap.
type Observer interface {
	RequestStarted(ctx context.Context, r *RequestInfo) context.Context
	RequestEnded(ctx context.Context, r RequestInfo, state string, err error)
	HopReceived(ctx context.Context, env *Envelope) context.Context
	HopEmitted(ctx context.Context, env *Envelope)
	// HopRedelivered reports a hop the reconciler sends again because its
	// node stalled, and why; HopEmitted follows it.
	HopRedelivered(ctx context.Context, env *Envelope, reason string)
	NodeStarted(ctx context.Context, n NodeInfo) context.Context
	NodeRetry(ctx context.Context, n NodeInfo, err error, delay time.Duration)
	NodeEnded(ctx context.Context, n NodeInfo, err error)
	OperationStarted(ctx context.Context, op OpInfo) context.Context
	OperationEnded(ctx context.Context, op OpInfo, err error)
}

// NopObserver ignores every event. Embed it to implement part of Observer.
type NopObserver struct{}

func (NopObserver) RequestStarted(ctx context.Context, _ *RequestInfo) context.Context { return ctx }
func (NopObserver) RequestEnded(context.Context, RequestInfo, string, error)           {}
func (NopObserver) HopReceived(ctx context.Context, _ *Envelope) context.Context       { return ctx }
func (NopObserver) HopEmitted(context.Context, *Envelope)                              {}
func (NopObserver) HopRedelivered(context.Context, *Envelope, string)                  {}
func (NopObserver) NodeStarted(ctx context.Context, _ NodeInfo) context.Context        { return ctx }
func (NopObserver) NodeRetry(context.Context, NodeInfo, error, time.Duration)          {}
func (NopObserver) NodeEnded(context.Context, NodeInfo, error)                         {}
func (NopObserver) OperationStarted(ctx context.Context, _ OpInfo) context.Context     { return ctx }
func (NopObserver) OperationEnded(context.Context, OpInfo, error)                      {}

// Observers combines several observers into one, called in order.
func Observers(obs ...Observer) Observer {
	var list multiObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return NopObserver{}
	case 1:
		return list[0]
	}
	return list
}

type multiObserver []Observer

func (m multiObserver) RequestStarted(ctx context.Context, r *RequestInfo) context.Context {
	for _, o := range m {
		ctx = o.RequestStarted(ctx, r)
	}
	return ctx
}
func (m multiObserver) RequestEnded(ctx context.Context, r RequestInfo, state string, err error) {
	for _, o := range m {
		o.RequestEnded(ctx, r, state, err)
	}
}
func (m multiObserver) HopReceived(ctx context.Context, env *Envelope) context.Context {
	for _, o := range m {
		ctx = o.HopReceived(ctx, env)
	}
	return ctx
}
func (m multiObserver) HopEmitted(ctx context.Context, env *Envelope) {
	for _, o := range m {
		o.HopEmitted(ctx, env)
	}
}
func (m multiObserver) HopRedelivered(ctx context.Context, env *Envelope, reason string) {
	for _, o := range m {
		o.HopRedelivered(ctx, env, reason)
	}
}
func (m multiObserver) NodeStarted(ctx context.Context, n NodeInfo) context.Context {
	for _, o := range m {
		ctx = o.NodeStarted(ctx, n)
	}
	return ctx
}
func (m multiObserver) NodeRetry(ctx context.Context, n NodeInfo, err error, d time.Duration) {
	for _, o := range m {
		o.NodeRetry(ctx, n, err, d)
	}
}
func (m multiObserver) NodeEnded(ctx context.Context, n NodeInfo, err error) {
	for _, o := range m {
		o.NodeEnded(ctx, n, err)
	}
}
func (m multiObserver) OperationStarted(ctx context.Context, op OpInfo) context.Context {
	for _, o := range m {
		ctx = o.OperationStarted(ctx, op)
	}
	return ctx
}
func (m multiObserver) OperationEnded(ctx context.Context, op OpInfo, err error) {
	for _, o := range m {
		o.OperationEnded(ctx, op, err)
	}
}
