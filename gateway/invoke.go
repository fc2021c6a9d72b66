package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// callID applies the OpenFaaS call-id middleware: the caller's X-Call-Id is
// used (and not echoed); otherwise one is generated and returned.
func (s *Server) callID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get(api.HeaderCallID)
	if id == "" {
		id = newCallID()
		r.Header.Set(api.HeaderCallID, id)
		w.Header().Set(api.HeaderCallID, id)
	}
	start := strconv.FormatInt(time.Now().UnixNano(), 10)
	r.Header.Add(api.HeaderStartTime, start)
	w.Header().Set(api.HeaderStartTime, start)
	w.Header().Set(api.HeaderServedBy, "faasflow-local/"+Version)
	return id
}

// lookup resolves "name" or "name.namespace" to a deployed function.
func (s *Server) lookup(raw string) (store.Function, string, bool) {
	name, ns := api.SplitName(raw)
	if !namespaceOK(ns) {
		return store.Function{}, name, false
	}
	f, ok := s.opts.Store.Get(name)
	return f, name, ok
}

// instance returns the running instance, scaling from zero if needed.
func (s *Server) instance(ctx context.Context, f store.Function) (*supervisor.Instance, error) {
	name := f.Deployment.Service
	if inst, ok := s.opts.Supervisor.Get(name); ok {
		return inst, nil
	}
	if err := s.scaleFromZero(ctx, f); err != nil {
		return nil, err
	}
	inst, ok := s.opts.Supervisor.Get(name)
	if !ok {
		return nil, supervisor.ErrStopped
	}
	return inst, nil
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	s.callID(w, r)
	raw := r.PathValue("name")
	f, name, ok := s.lookup(raw)
	label := name + "." + api.DefaultNamespace
	if !ok {
		httpError(w, http.StatusNotFound, fmt.Sprintf("error finding function %s: function not deployed", raw))
		s.metrics.observe(label, "404", time.Since(started).Seconds())
		return
	}
	code := s.forward(w, r, f, started)
	s.metrics.countInvocation(name)
	s.metrics.observe(label, strconv.Itoa(code), time.Since(started).Seconds())
}

// forward proxies r to the function and returns the status sent. A body
// over MaxBodyBytes never reaches the function as a cut-short success: it
// is answered 413 before the call when its declared length is too large,
// or when the function has not answered yet once it passes the limit;
// when the function's answer has already started, it is broken off (see
// abort), as is an answer the function itself did not finish.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, f store.Function, started time.Time) int {
	if r.ContentLength > s.opts.MaxBodyBytes {
		return s.bodyTooLarge(w, f, r.ContentLength)
	}
	inst, err := s.instance(r.Context(), f)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, "function "+f.Deployment.Service+" cannot start: "+err.Error())
		return http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(r.Context(), inst.Timeout())
	defer cancel()
	body, code := s.requestBody(w, r)
	if body == nil {
		return code
	}
	out, code := s.outgoing(ctx, w, r, body)
	if out == nil {
		return code
	}
	capped, _ := body.(*cappedBody)
	resp, err := inst.RoundTrip(out)
	if err != nil {
		if capped.tooLarge() {
			return s.bodyTooLarge(w, f, -1)
		}
		code := callFailed(w, r, f, inst, err)
		s.stopRunaway(ctx, r, inst, err)
		return code
	}
	defer resp.Body.Close()
	if capped != nil {
		// The function may answer while the body is still arriving (a
		// streaming echo). Without full duplex, sending the answer's
		// headers makes the server read what is left of the body for
		// itself, from under the transport that is passing it on.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	if err := s.relay(w, r, resp, started); err != nil || capped.tooLarge() {
		s.stopRunaway(ctx, r, inst, err)
		abort(w)
	}
	return resp.StatusCode
}

// stopRunaway stops the process that had a call (err names it) once the
// call ran past the function's exec timeout, the deadline of ctx, and not
// the caller's own: a process still busy with a call nobody waits for is
// restarted, as on OpenFaaS (see supervisor.Instance.StopRunaway).
func (s *Server) stopRunaway(ctx context.Context, r *http.Request, inst *supervisor.Instance, err error) {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) || r.Context().Err() != nil {
		return
	}
	inst.StopRunaway(err) // logs and counts the kill
}

// outgoing is the request forward sends to the function for r, with ctx
// and body: the same method, path remainder, query and headers (less the
// hop-by-hop ones), X-Forwarded-Host and -For when the caller set none, and
// the trace context. When it cannot be made, the error has been answered
// and outgoing returns nil and its status.
func (s *Server) outgoing(ctx context.Context, w http.ResponseWriter, r *http.Request, body io.Reader) (*http.Request, int) {
	target := "http://function" + functionPath(r)
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return nil, http.StatusBadRequest
	}
	out.ContentLength = r.ContentLength
	out.Header = r.Header.Clone()
	for _, h := range hopByHop {
		out.Header.Del(h)
	}
	if out.Header.Get("X-Forwarded-Host") == "" {
		out.Header.Set("X-Forwarded-Host", r.Host)
	}
	if out.Header.Get("X-Forwarded-For") == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			out.Header.Set("X-Forwarded-For", host)
		}
	}
	s.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	return out, 0
}

// requestBody is r's body: read into memory first when it is small, else
// a *cappedBody that fails once it passes MaxBodyBytes, streamed to the
// function. (A declared length over the limit was refused by forward, and
// the server holds a body to its declared length.) When reading fails, the
// error has been answered and requestBody returns nil and its status.
func (s *Server) requestBody(w http.ResponseWriter, r *http.Request) (io.Reader, int) {
	if n := r.ContentLength; n > 0 && n <= smallBody {
		// A small body is read first and sent from memory: the transport
		// then writes it with the headers, where a streamed body makes it
		// flush the headers and copy through a fresh 32 KiB buffer.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			httpError(w, http.StatusBadRequest, "read request body: "+err.Error())
			return nil, http.StatusBadRequest
		}
		return bytes.NewReader(b), 0
	}
	return &cappedBody{r: http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)}, 0
}

// cappedBody is a request body that fails once it passes the gateway's
// limit (r is an http.MaxBytesReader) and records that it did. The
// transport reads it on a goroutine of its own, hence the atomic.
type cappedBody struct {
	r        io.Reader
	exceeded atomic.Bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		b.exceeded.Store(true)
	}
	return n, err
}

// tooLarge reports whether the body passed the limit; false for nil (a
// body read into memory, whose declared length was within it).
func (b *cappedBody) tooLarge() bool { return b != nil && b.exceeded.Load() }

// bodyTooLarge answers 413, marked as the gateway's answer, for a request
// body over MaxBodyBytes: size is its declared length, or -1 when the limit
// was found while the body was read. It returns the status sent.
func (s *Server) bodyTooLarge(w http.ResponseWriter, f store.Function, size int64) int {
	what := "request body"
	if size >= 0 {
		what = fmt.Sprintf("request body of %d bytes", size)
	}
	w.Header().Set(api.HeaderOpenFaaSInternal, "gateway")
	httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
		"%s for function %s is too large: the gateway accepts at most %d bytes (faasflow up --max-body-size)",
		what, f.Deployment.Service, s.opts.MaxBodyBytes))
	return http.StatusRequestEntityTooLarge
}

// abort breaks off an answer whose status and part of whose body have been
// sent, by closing the caller's connection, so that the caller sees an
// incomplete answer (an unexpected end of the body) rather than a complete
// one that is cut short. An answer that cannot be broken off (a writer
// without a connection, such as the queue worker's) is left as it is.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = conn.Close()
}

// callFailed answers a call the function gave no response to, marked as
// the gateway's answer: 504 when its exec timeout ran out, 503 when it was
// not ready, 502 otherwise. It returns the status sent.
func callFailed(w http.ResponseWriter, r *http.Request, f store.Function, inst *supervisor.Instance, err error) int {
	code := http.StatusBadGateway
	msg := "function " + f.Deployment.Service + " failed: " + err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		code = http.StatusGatewayTimeout
		msg = fmt.Sprintf("function %s timed out after %s (exec_timeout)", f.Deployment.Service, inst.Timeout())
	case errors.Is(err, supervisor.ErrNotReady), errors.Is(err, supervisor.ErrCrashing):
		code = http.StatusServiceUnavailable
	}
	w.Header().Set(api.HeaderOpenFaaSInternal, "gateway")
	httpError(w, code, msg)
	return code
}

// relay sends the function's response to the caller: its headers (less the
// hop-by-hop ones; the request's Content-Type, or text/plain, when it set
// none), the duration so far, the status and the body, streamed with a
// flush per read for event streams and NDJSON. It returns the error that
// cut the function's body short, if one did.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, started time.Time) error {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, h := range hopByHop {
		w.Header().Del(h)
	}
	if w.Header().Get("Content-Type") == "" {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		} else {
			w.Header().Set("Content-Type", "text/plain")
		}
	}
	// The function's body is streamed, so the duration is the time to headers.
	w.Header().Set(api.HeaderDuration, fmt.Sprintf("%f", time.Since(started).Seconds()))
	w.WriteHeader(resp.StatusCode)
	src := &readerOnly{r: resp.Body}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "application/x-ndjson") {
		streamCopy(w, src)
	} else {
		buf := s.copyBufs.Get().(*[]byte)
		_, _ = io.CopyBuffer(writerOnly{w}, src, *buf)
		s.copyBufs.Put(buf)
	}
	return src.err
}

// smallBody is the largest request body requestBody reads into memory
// before forward sends it on; it fits the function transport's write buffer
// with the headers (see supervisor.Options).
const smallBody = 16 << 10

// writerOnly and readerOnly hide ReadFrom and WriteTo, so that
// io.CopyBuffer uses the buffer it is given (the response writer and the
// TCP connection under it would each allocate a new one per call).
// readerOnly also keeps the first error other than io.EOF its reader
// returned: the reason the body it copies was cut short.
type writerOnly struct{ io.Writer }
type readerOnly struct {
	r   io.Reader
	err error
}

func (ro *readerOnly) Read(p []byte) (int, error) {
	n, err := ro.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && ro.err == nil {
		ro.err = err
	}
	return n, err
}

// streamCopy copies r to w, flushing after every read, until either fails.
func streamCopy(w http.ResponseWriter, r io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) invokeAsync(w http.ResponseWriter, r *http.Request) {
	callID := s.callID(w, r)
	raw := r.PathValue("name")
	_, name, ok := s.lookup(raw)
	if !ok && !s.opts.QueueUnknown {
		httpError(w, http.StatusNotFound, fmt.Sprintf("error finding function %s: function not deployed", raw))
		s.metrics.invocations.WithLabelValues(name+"."+api.DefaultNamespace, "404").Inc()
		return
	}
	var cb *url.URL
	if v := r.Header.Get(api.HeaderCallbackURL); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			httpError(w, http.StatusBadRequest, "X-Callback-Url must be an absolute http(s) URL")
			return
		}
		cb = u
	}
	if _, ok := s.admitAsync(r.Context(), w, r, raw, name, false); !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, queuemsg.MaxBodyBytes+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(body) > queuemsg.MaxBodyBytes {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large for the queue: maximum %d bytes", queuemsg.MaxBodyBytes))
		return
	}
	path := ""
	if strings.Count(strings.TrimPrefix(r.URL.EscapedPath(), "/async-function/"), "/") > 0 {
		path = functionPath(r)
	}
	req := queuemsg.Request{
		Header: r.Header.Clone(), Host: r.Host, Body: body, Method: r.Method, Path: path,
		QueryString: r.URL.RawQuery, Function: raw, CallbackURL: cb,
	}
	unlock, ok := s.admitAsync(r.Context(), w, r, raw, name, true)
	if !ok {
		return
	}
	err = s.opts.Publisher.Publish(r.Context(), req, callID)
	unlock()
	if err != nil {
		s.publishRefused(w, name, err)
		return
	}
	s.metrics.invocations.WithLabelValues(name+"."+api.DefaultNamespace, "202").Inc()
	w.WriteHeader(http.StatusAccepted)
}

// functionPath is the request path after /function/NAME (or
// /async-function/NAME), keeping the caller's escaping; "" becomes "/".
func functionPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	for _, prefix := range []string{"/function/", "/async-function/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				return rest[i:]
			}
			return "/"
		}
	}
	return "/" + r.PathValue("rest")
}
