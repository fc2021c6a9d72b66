package sdk

import (
	"context"
	"net/http"
)

// Modifier transforms a node's data inline, in the flow function's process.
type Modifier func(data []byte) ([]byte, error)

// ContextModifier is a Modifier that also receives the invocation's
// context.Context (deadline of the node's timeout, cancellation on stop).
type ContextModifier func(ctx context.Context, data []byte) ([]byte, error)

// ForwarderFunc transforms the data a node sends along one edge. It is named
// Forwarder in faas-flow; the option of that name takes it.
type ForwarderFunc func(data []byte) []byte

// AggregatorFunc merges several inputs into one: the inputs of a join node,
// keyed by predecessor name, or the results of the branches of a conditional
// or foreach node, keyed by option.
type AggregatorFunc func(inputs map[string][]byte) ([]byte, error)

// ForEach splits a foreach node's input into branch inputs keyed by a branch
// key. Each key runs the foreach sub-DAG once, in parallel.
type ForEach func(data []byte) map[string][]byte

// Condition selects which declared branches of a conditional node run. It may
// select several; selecting none skips the branches (see ConditionalBranch).
type Condition func(data []byte) []string

// PipelineErrorHandler is called once when a request fails. Its output is
// logged and kept as the failed request's result.
type PipelineErrorHandler func(err error) ([]byte, error)

// PipelineHandler is called once when a request ends, with "success",
// "failure" or "stopped".
type PipelineHandler func(state string)

// FuncErrorHandler handles the error of one operation. Returning nil swallows
// the error: the flow continues with the operation's error text as output.
type FuncErrorHandler func(err error) error

// ReqHandler may edit the outgoing HTTP request of an Apply or Request
// operation before it is sent.
type ReqHandler func(req *http.Request)

// RespHandler turns the HTTP response of an Apply or Request operation into
// the operation's output. Without one, a 2xx body is the output and any other
// status is an error.
type RespHandler func(resp *http.Response) ([]byte, error)

// Operation is a custom operation added with Node.AddOperation. It is
// faas-flow's operation interface, kept for compatibility.
type Operation interface {
	// GetId names the operation in traces and exports.
	GetId() string
	// Encode returns a description used in DAG exports.
	Encode() []byte
	// GetProperties returns flags shown in DAG exports.
	GetProperties() map[string][]string
	// Execute runs the operation. options holds "request-id" and "gateway".
	Execute(data []byte, options map[string]interface{}) ([]byte, error)
}

// ContextOperation is an Operation that wants the invocation's
// context.Context. The engine calls ExecuteContext instead of Execute when an
// added operation implements it.
type ContextOperation interface {
	Operation
	ExecuteContext(ctx context.Context, data []byte, options map[string]interface{}) ([]byte, error)
}

// DefineFunc is the type of a flow's Define function, the one function a
// flow function exports. It is called on every invocation and must be
// deterministic in the structure it defines.
type DefineFunc func(flow *Workflow, context *Context) error
