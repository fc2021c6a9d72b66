package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
)

// ServeHTTP routes a request. Every answer carries HeaderRuntime. A panic
// in a handler becomes a 500 for that request only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderRuntime, SDKVersion)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic while serving", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.writeError(w, r, fmt.Errorf("internal error: %v", v), "")
		}
	}()
	if !s.checkControlAuth(w, r) {
		return
	}
	path := r.URL.Path
	switch {
	case path == "/":
		s.handleRoot(w, r)
	case path == "/_/health" || path == "/healthz":
		s.handleHealth(w, r)
	case path == "/metrics" && s.metrics != nil:
		s.metrics.ServeHTTP(w, r)
	case strings.HasPrefix(path, "/debug/pprof/") && s.cfg.DebugPprof:
		servePprof(w, r)
	case path == "/flow/requests":
		s.handleRequests(w, r)
	case strings.HasPrefix(path, "/flow/"):
		parts := strings.Split(strings.TrimPrefix(path, "/flow/"), "/")
		if len(parts) != 2 || parts[0] == "" {
			s.writeError(w, r, fmt.Errorf("%w: no route %s", ErrNoRoute, path), "")
			return
		}
		s.handleFlow(w, r, parts[0], parts[1])
	default:
		s.writeError(w, r, fmt.Errorf("%w: no route %s", ErrNoRoute, path), "")
	}
}

// allow reports whether r uses one of methods; if not it answers 405 with
// an Allow header and returns false.
func allow(w http.ResponseWriter, r *http.Request, s *Server, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	s.writeError(w, r, fmt.Errorf("%w: %s %s (allowed: %s)", ErrMethod, r.Method, r.URL.Path, strings.Join(methods, ", ")), "")
	return false
}

// handleHealth answers GET|HEAD /_/health and /healthz: OK, or 503 while
// the server drains.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, s, http.MethodGet, http.MethodHead) {
		return
	}
	if s.draining.Load() {
		s.writeError(w, r, ErrShuttingDown, "")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "OK")
}

// handleRoot answers GET|POST /: the query controls of faas-flow
// (export-dag, dag, state, pause-flow, resume-flow, stop-flow) or, without
// one, the start of a new request.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, s, http.MethodGet, http.MethodPost) {
		return
	}
	q := r.URL.Query()
	switch {
	case q.Has("export-dag") && q.Get("export-dag") != "false":
		s.handleDAG(w, r, "faasflow")
	case q.Has("dag"):
		s.handleDAG(w, r, q.Get("dag"))
	case q.Has("state"):
		s.handleState(w, r, q.Get("state"))
	case q.Has("pause-flow"):
		s.handleControl(w, r, "pause", q.Get("pause-flow"))
	case q.Has("resume-flow"):
		s.handleControl(w, r, "resume", q.Get("resume-flow"))
	case q.Has("stop-flow"):
		s.handleControl(w, r, "stop", q.Get("stop-flow"))
	case q.Has("redrive-flow"):
		s.handleControl(w, r, "redrive", q.Get("redrive-flow"))
	default:
		s.handleStart(w, r, q)
	}
}

// handleFlow routes /flow/{id}/{action}: forward (hops.go), and state,
// result, pause, resume, stop and redrive (control.go).
func (s *Server) handleFlow(w http.ResponseWriter, r *http.Request, id, action string) {
	switch action {
	case "forward":
		if allow(w, r, s, http.MethodPost) {
			s.handleForward(w, r, id)
		}
	case "state":
		if allow(w, r, s, http.MethodGet, http.MethodHead) {
			s.handleState(w, r, id)
		}
	case "result":
		if allow(w, r, s, http.MethodGet, http.MethodHead) {
			s.handleResult(w, r, id)
		}
	case "pause", "resume", "stop", "redrive":
		if allow(w, r, s, http.MethodPost) {
			s.handleControl(w, r, action, id)
		}
	default:
		s.writeError(w, r, fmt.Errorf("%w: no route %s", ErrNoRoute, r.URL.Path), id)
	}
}

// invocation returns the context of work done for a request: detached from
// the client's cancellation (a queue worker that gives up must not leave a
// node half done) and bounded by the invocation budget (write_timeout less
// a margin to answer).
func (s *Server) invocation(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), s.budget)
}

// readBody reads the request body up to max_body_size.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	limit := s.cfg.MaxBodySize
	if limit <= 0 {
		limit = 16 << 20
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("request body larger than max_body_size (%d bytes): %w", limit, err)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrBadInput, err)
	}
	return b, nil
}
