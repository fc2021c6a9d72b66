package sdk

import (
	"errors"
	"strings"
	"time"
)

// Options configure one operation (Apply, Request, Callback).
type Options struct {
	Header          map[string]string
	Query           map[string][]string
	FailureHandler  FuncErrorHandler
	RequestHandler  ReqHandler
	ResponseHandler RespHandler
	Timeout         time.Duration
}

// Option sets one operation option.
type Option func(*Options)

// Header adds an HTTP header to the call. The key is lower-cased, as in
// faas-flow; the special key "method" sets the HTTP method (default POST).
func Header(key, value string) Option {
	return func(o *Options) {
		if o.Header == nil {
			o.Header = make(map[string]string)
		}
		o.Header[strings.ToLower(key)] = value
	}
}

// Query adds query parameters to the call. Values are URL-encoded properly
// (faas-flow sent "?k-v").
func Query(key string, values ...string) Option {
	return func(o *Options) {
		if o.Query == nil {
			o.Query = make(map[string][]string)
		}
		o.Query[key] = append(o.Query[key], values...)
	}
}

// OnFailure sets the failure handler of the operation.
func OnFailure(handler FuncErrorHandler) Option {
	return func(o *Options) { o.FailureHandler = handler }
}

// RequestHandler lets handler edit the outgoing HTTP request.
func RequestHandler(handler ReqHandler) Option {
	return func(o *Options) { o.RequestHandler = handler }
}

// OnResponse sets the response handler of the operation.
func OnResponse(handler RespHandler) Option {
	return func(o *Options) { o.ResponseHandler = handler }
}

// OnReponse is faas-flow's misspelt name of OnResponse.
//
// Deprecated: use OnResponse.
func OnReponse(handler RespHandler) Option { return OnResponse(handler) }

// Timeout bounds one operation. The node's own timeout (NodeTimeout) still
// applies to all of its operations together.
func Timeout(d time.Duration) Option {
	return func(o *Options) { o.Timeout = d }
}

// RetryPolicy retries a failed node with exponential backoff and jitter. The
// whole node (all of its operations) is retried, inside the same invocation.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt: 3 means up to two retries.
	// Values below 2 disable retries.
	MaxAttempts int
	// InitialInterval is the delay before the first retry (default 100ms).
	InitialInterval time.Duration
	// BackoffCoefficient multiplies the delay after each retry (default 2).
	BackoffCoefficient float64
	// MaxInterval caps the delay (default 10s).
	MaxInterval time.Duration
	// Jitter spreads each delay randomly by up to this fraction (default 0.2;
	// negative disables jitter).
	Jitter float64
	// Retryable decides whether an error is worth retrying. nil retries every
	// error except those wrapped with Permanent.
	Retryable func(error) bool
}

// BranchOptions configure a node, an edge, or a dynamic branch.
type BranchOptions struct {
	aggregator     AggregatorFunc
	forwarder      ForwarderFunc
	noDataForward  bool
	retry          *RetryPolicy
	timeout        time.Duration
	maxConcurrency int
	tolerated      int
	toleratedPct   float64
}

// BranchOption sets one branch option.
type BranchOption func(*BranchOptions)

// Aggregator sets the aggregator of a join node (Dag.Node) or the
// sub-aggregator of a conditional or foreach node, which merges the branch
// results keyed by option.
func Aggregator(aggregator AggregatorFunc) BranchOption {
	return func(o *BranchOptions) { o.aggregator = aggregator }
}

// Forwarder transforms the data sent along an edge (Dag.Edge).
func Forwarder(forwarder ForwarderFunc) BranchOption {
	return func(o *BranchOptions) { o.forwarder = forwarder }
}

// InvokeEdge makes an edge (or the edges into and out of dynamic branches)
// execution-only: the child runs after the parent but receives no data.
func InvokeEdge() BranchOption {
	return func(o *BranchOptions) { o.noDataForward = true }
}

// Execution is faas-flow's name for InvokeEdge().
var Execution = InvokeEdge()

// Retry sets the retry policy of a node.
func Retry(policy RetryPolicy) BranchOption {
	return func(o *BranchOptions) { p := policy; o.retry = &p }
}

// NodeTimeout bounds each attempt of a node (all of its operations).
func NodeTimeout(d time.Duration) BranchOption {
	return func(o *BranchOptions) { o.timeout = d }
}

// MaxConcurrency limits how many branches of a foreach node run at once. Zero
// means no limit.
func MaxConcurrency(n int) BranchOption {
	return func(o *BranchOptions) { o.maxConcurrency = n }
}

// ToleratedFailures lets up to n branches of a foreach node fail without
// failing the node: each failed branch becomes a fault record (see Fault),
// and the aggregator receives the results of the branches that succeeded.
// With more failures the node fails, its error naming the count. Combined
// with ToleratedFailurePercent, both bounds must hold.
func ToleratedFailures(n int) BranchOption {
	return func(o *BranchOptions) { o.tolerated = n }
}

// ToleratedFailurePercent is ToleratedFailures as a share of the foreach
// node's branches: up to p percent of them (0 < p <= 100) may fail.
func ToleratedFailurePercent(p float64) BranchOption {
	return func(o *BranchOptions) { o.toleratedPct = p }
}

func applyBranchOptions(opts []BranchOption) BranchOptions {
	if len(opts) == 0 {
		return BranchOptions{} // the usual case, without the allocation below
	}
	var o BranchOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// permanentError marks an error that retries cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the default retry policy does not retry it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
