package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
)

// HTTP headers of the flow function's contract.
const (
	HeaderRequestID   = "X-Faas-Flow-Reqid"
	HeaderCallbackURL = "X-Faas-Flow-Callback-Url"
	HeaderState       = "X-Faas-Flow-State"
	HeaderSignature   = "X-Faas-Flow-Signature"
	// HeaderWaitIgnored on a 202 says why a ?wait was not honoured.
	HeaderWaitIgnored = "X-Faas-Flow-Wait-Ignored"
	// HeaderBodySignature carries the body-only signature of earlier
	// versions, for one more release.
	HeaderBodySignature = "X-Faas-Flow-Body-Signature"
	HeaderError         = "X-Faas-Flow-Error"
	HeaderWait          = "X-Faas-Flow-Wait"
	HeaderFlow          = "X-Faas-Flow-Name"
	// HeaderRuntime is on every answer of a flow function, errors
	// included, with the SDKVersion it runs: it tells a client (faasflow
	// state, dag, pause...) that the function it called is a flow.
	HeaderRuntime = "X-Faas-Flow-Runtime"
)

// CallError is the error of an operation whose HTTP call answered with a
// status outside 2xx (and had no response handler). Client errors other than
// 408 and 429 are also marked sdk.Permanent, so retry policies skip them.
type CallError struct {
	Target string
	Status int
	Body   string // excerpt
}

func (e *CallError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.Target, e.Status, e.Body)
}

// HTTPInvoker performs Apply (an OpenFaaS function through the gateway),
// Request (a URL) and Callback (POST to a URL) operations. It is an
// engine.Invoker.
type HTTPInvoker struct {
	Gateway string // base URL, no trailing slash
	Client  *http.Client
	// DefaultMethod is used when the operation has no "method" header
	// option (default POST).
	DefaultMethod string
	// MaxResponse bounds the body read from a response (default 64 MiB).
	MaxResponse int64
}

// Invoke implements engine.Invoker. The call is bounded by ctx (the node's
// and operation's timeouts, and the invocation budget).
func (inv *HTTPInvoker) Invoke(ctx context.Context, call *engine.Call) ([]byte, error) {
	opts := call.Options
	if opts == nil {
		opts = &sdk.Options{}
	}
	req, err := inv.newRequest(ctx, call, opts)
	if err != nil {
		return nil, err
	}
	client := inv.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", displayTarget(call), err)
	}
	defer resp.Body.Close()
	return inv.readResponse(call, opts, resp)
}

// newRequest builds the HTTP request of call: its target and method (see
// target), opts' query parameters, the call's data as body, opts' headers
// (but "method"), the request id header, and the changes of opts'
// RequestHandler. Errors of the call's own making are sdk.Permanent.
func (inv *HTTPInvoker) newRequest(ctx context.Context, call *engine.Call, opts *sdk.Options) (*http.Request, error) {
	target, method, err := inv.target(call)
	if err != nil {
		return nil, err
	}
	if m := opts.Header["method"]; m != "" {
		method = strings.ToUpper(m)
	}
	if len(opts.Query) > 0 {
		if target, err = withQuery(target, opts.Query); err != nil {
			return nil, err
		}
	}
	var body io.Reader
	if len(call.Data) > 0 {
		body = bytes.NewReader(call.Data)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, sdk.Permanent(fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	for k, v := range opts.Header {
		if k != "method" {
			req.Header.Set(k, v)
		}
	}
	if call.RequestID != "" {
		req.Header.Set(HeaderRequestID, call.RequestID)
	}
	if opts.RequestHandler != nil {
		if err := protectCall(func() error { opts.RequestHandler(req); return nil }); err != nil {
			return nil, fmt.Errorf("request handler: %w", err)
		}
	}
	return req, nil
}

// target returns the URL and default method of call: a function goes to
// <gateway>/function/<name> with DefaultMethod (POST if unset), a request
// to its http(s) URL with DefaultMethod, and a callback is a POST to its
// URL. An operation header "method" may still change the method.
func (inv *HTTPInvoker) target(call *engine.Call) (target, method string, err error) {
	method = inv.DefaultMethod
	if method == "" {
		method = http.MethodPost
	}
	switch call.Kind {
	case sdk.OpFunction:
		return inv.Gateway + "/function/" + url.PathEscape(call.Target), method, nil
	case sdk.OpRequest, sdk.OpCallback:
		u, err := url.Parse(call.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", sdk.Permanent(fmt.Errorf("%w: %q is not an http(s) URL", ErrBadInput, call.Target))
		}
		if call.Kind == sdk.OpCallback {
			method = http.MethodPost
		}
		return call.Target, method, nil
	default:
		return "", "", fmt.Errorf("%w: invoker cannot run operation kind %d", engine.ErrConfig, call.Kind)
	}
}

// withQuery returns target with the parameters of query added to its own.
func withQuery(target string, query map[string][]string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", sdk.Permanent(fmt.Errorf("%w: %v", ErrBadInput, err))
	}
	q := u.Query()
	for k, vs := range query {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// readResponse reads the response of call, bounded by MaxResponse (64 MiB
// if unset). opts' ResponseHandler, when set, makes the result (the rest of
// the body is drained). Otherwise the body is the result of a 2xx answer,
// and any other status is a *CallError, sdk.Permanent for a client error
// that retrying cannot fix.
func (inv *HTTPInvoker) readResponse(call *engine.Call, opts *sdk.Options, resp *http.Response) ([]byte, error) {
	limit := inv.MaxResponse
	if limit <= 0 {
		limit = 64 << 20
	}
	resp.Body = &limitedBody{r: io.LimitReader(resp.Body, limit+1), c: resp.Body, limit: limit}
	if opts.ResponseHandler != nil {
		var out []byte
		err := protectCall(func() (err error) { out, err = opts.ResponseHandler(resp); return err })
		_, _ = io.Copy(io.Discard, resp.Body)
		return out, err
	}
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("call %s: read response: %w", displayTarget(call), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ce := &CallError{Target: displayTarget(call), Status: resp.StatusCode, Body: excerpt(out)}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && !transientStatus(resp.StatusCode) {
			return nil, sdk.Permanent(ce)
		}
		return nil, ce
	}
	return out, nil
}

// displayTarget names the call in errors without the query string (which
// may carry secrets).
func displayTarget(call *engine.Call) string {
	if call.Kind == sdk.OpFunction {
		return "function " + call.Target
	}
	if u, err := url.Parse(call.Target); err == nil {
		u.RawQuery, u.User = "", nil
		return u.String()
	}
	return "URL"
}

// errResponseTooLarge is returned while reading a response above the limit.
var errResponseTooLarge = errors.New("response larger than max_response_size")

// limitedBody is a response body that fails with errResponseTooLarge once
// more than limit bytes were read; Close closes the original body c.
type limitedBody struct {
	r     io.Reader
	c     io.Closer
	n     int64
	limit int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, fmt.Errorf("%w (%d bytes)", errResponseTooLarge, l.limit)
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.c.Close() }

// protectCall runs user code (request and response handlers), turning a
// panic into an error.
func protectCall(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &sdk.PanicError{Where: "operation handler", Value: v}
		}
	}()
	return f()
}
