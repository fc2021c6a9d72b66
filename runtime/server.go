package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/transport/gatewayhttp"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// Server is the flow function's HTTP server. It is an http.Handler; Serve
// runs it on a listener with timeouts and graceful shutdown.
type Server struct {
	cfg      Config
	eng      *engine.Engine
	log      *slog.Logger
	notifier *CallbackNotifier
	metrics  http.Handler
	owned    []sdk.Closer
	hooks    []func(context.Context) error
	budget   time.Duration
	draining atomic.Bool
	closed   atomic.Bool
}

// NewServer builds the engine for define from cfg: stores (only for flows
// of more than one node), the gateway transport, the HTTP invoker, the
// callback notifier and the HMAC signer. It refuses to build a multi-node
// flow without a flow name or without faasflow-hmac-secret (unless insecure
// mode is on), naming the setting to fix.
func NewServer(cfg Config, define sdk.DefineFunc, opts ...Option) (*Server, error) {
	o := Options{}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	if o.HTTPClient == nil {
		o.HTTPClient = NewHTTPClient()
	}
	if cfg.WriteTimeout <= 0 || cfg.ReadTimeout <= 0 {
		return nil, fmt.Errorf("%w: read_timeout and write_timeout must be more than zero", ErrInvalidConfig)
	}
	if cfg.Gateway == "" {
		return nil, fmt.Errorf("%w: gateway is empty", ErrInvalidConfig)
	}
	s := &Server{cfg: cfg, log: o.Logger, metrics: o.Metrics}
	s.budget = cfg.WriteTimeout - min(cfg.WriteTimeout/10, 2*time.Second)
	ok := false
	defer func() {
		if !ok {
			_ = s.Close(context.Background())
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), max(cfg.Etcd.DialTimeout, 10*time.Second)+5*time.Second)
	defer cancel()
	observer := o.Observer
	for _, ext := range o.Extensions {
		x, err := ext(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("runtime extension: %w", err)
		}
		observer = engine.Observers(observer, x.Observer)
		if x.Metrics != nil {
			s.metrics = x.Metrics
		}
		if x.Shutdown != nil {
			s.hooks = append(s.hooks, x.Shutdown)
		}
	}

	flow, err := engine.Compile(cfg.Flow, define)
	if err != nil {
		return nil, err
	}
	s.notifier = NewCallbackNotifier(NotifierOptions{
		Client: o.HTTPClient, Key: cfg.HMACSecret, Attempts: cfg.CallbackAttempts,
		Timeout: cfg.CallbackTimeout, Logger: o.Logger,
	})
	eo := engine.Options{
		Flow:     cfg.Flow,
		Invoker:  &HTTPInvoker{Gateway: cfg.Gateway, Client: o.HTTPClient, DefaultMethod: cfg.DefaultMethod, MaxResponse: cfg.MaxResponseSize},
		Notifier: s.notifier,
		Observer: observer,
		Logger:   o.Logger,

		InlineLimit: cfg.InlineDataLimit,
		MaxHopAge:   cfg.HopMaxAge,
		RequestTTL:  cfg.RequestTTL,
		Retention:   cfg.RequestRetention,
		Lease:       cfg.NodeLease,
	}
	if cfg.RequestRetention == 0 {
		eo.Retention = -1
	}
	if !flow.IsSync() {
		if cfg.Flow == "" {
			return nil, fmt.Errorf("%w: the flow name is not set: set env flow_name to the function's name (OpenFaaS Pro and faas-cli local-run set OPENFAAS_NAME)", ErrInvalidConfig)
		}
		if len(cfg.HMACSecret) == 0 && !cfg.InsecureHops {
			return nil, fmt.Errorf("%w: the secret faasflow-hmac-secret is missing from %s: a flow of more than one node signs its hops with it. Create it (faas-cli secret create faasflow-hmac-secret --from-literal=\"$(head -c 32 /dev/urandom | base64)\") and list it under secrets: in stack.yml, or set faasflow_insecure_hops=true for local experiments", ErrInvalidConfig, cfg.SecretMountPath)
		}
		signer, err := engine.NewSigner(cfg.HMACSecret, cfg.InsecureHops)
		if err != nil {
			return nil, err
		}
		st, ds, owned, err := openStores(ctx, cfg, &o)
		if err != nil {
			return nil, err
		}
		s.owned = owned
		eo.Signer, eo.StateStore, eo.DataStore = signer, st, ds
		switch cfg.HopTransport {
		case HopsViaNATS:
			t, err := natsqueue.NewTransport(cfg.NATSURL, cfg.Flow, cfg.ForwardTimeout)
			if err != nil {
				return nil, fmt.Errorf("%w: nats_url: %w", ErrInvalidConfig, err)
			}
			s.owned = append(s.owned, t)
			eo.Transport = t
		default:
			eo.Transport = &gatewayhttp.Transport{Gateway: cfg.Gateway, Flow: cfg.Flow, Client: o.HTTPClient, Timeout: cfg.ForwardTimeout}
		}
	}
	s.eng, err = engine.NewFor(flow, eo)
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Engine returns the server's engine.
func (s *Server) Engine() *engine.Engine { return s.eng }

// Config returns the configuration the server was built with.
func (s *Server) Config() Config { return s.cfg }

// Serve answers requests on ln until ctx ends, then drains: health checks
// fail for healthcheck_interval while requests are still served, then the
// server shuts down (bounded by write_timeout) and Close runs.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: min(s.cfg.ReadTimeout, 10*time.Second),
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       max(2*s.cfg.WriteTimeout, 2*time.Minute),
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	ectx, stopExpiry := context.WithCancel(ctx)
	expiring := make(chan struct{})
	go func() { defer close(expiring); s.expireLoop(ectx, time.Hour) }()
	defer func() { stopExpiry(); <-expiring }()
	s.log.Info("flow function listening", "flow", s.cfg.Flow, "addr", ln.Addr().String(), "sync", s.eng.IsSync())
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		s.draining.Store(true)
		if g := s.cfg.HealthcheckInterval; g > 0 {
			s.log.Info("draining", "grace", g)
			timer := time.NewTimer(g)
			select {
			case <-timer.C:
			case serveErr = <-errc:
				timer.Stop()
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		if err := hs.Shutdown(sctx); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
		cancel()
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	cctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	return errors.Join(serveErr, s.Close(cctx))
}

// expireLoop asks the data store to drop the data of abandoned requests
// (engine.ExpireAbandonedData) now and then every interval until ctx ends.
// Stores without expiry end it at once.
func (s *Server) expireLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		supported, err := s.eng.ExpireAbandonedData(ctx)
		if !supported {
			return
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("expiring the data of abandoned requests failed; retrying later", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close delivers queued callbacks (until ctx ends), runs the extensions'
// shutdown hooks and closes the stores the server opened.
func (s *Server) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	if s.notifier != nil {
		errs = append(errs, s.notifier.Close(ctx))
	}
	for _, h := range s.hooks {
		errs = append(errs, h(ctx))
	}
	for _, c := range s.owned {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
	State     string `json:"state,omitempty"`
	Status    int    `json:"status"`
	// Result is the output of the flow's OnFailure handler, if any.
	Result string `json:"result,omitempty"`
}

// ServeHTTP routes a request. A panic in a handler becomes a 500 for that
// request only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic while serving", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			s.writeError(w, r, fmt.Errorf("internal error: %v", v), "")
		}
	}()
	path := r.URL.Path
	switch {
	case path == "/":
		s.handleRoot(w, r)
	case path == "/_/health" || path == "/healthz":
		if !allow(w, r, s, http.MethodGet, http.MethodHead) {
			return
		}
		if s.draining.Load() {
			s.writeError(w, r, ErrShuttingDown, "")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "OK")
	case path == "/metrics" && s.metrics != nil:
		s.metrics.ServeHTTP(w, r)
	case strings.HasPrefix(path, "/debug/pprof/") && s.cfg.DebugPprof:
		servePprof(w, r)
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
	case "pause", "resume", "stop":
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
	default:
		s.handleStart(w, r, q)
	}
}

// accepted is the body of a 202 answer to a new multi-node request.
type accepted struct {
	RequestID string `json:"request_id"`
	Flow      string `json:"flow"`
	State     string `json:"state"`
	StatePath string `json:"state_path"`
	StateURL  string `json:"state_url"`
	ResultURL string `json:"result_url"`
	Message   string `json:"message,omitempty"`
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, q url.Values) {
	id := strings.TrimSpace(r.Header.Get(HeaderRequestID))
	callback := strings.TrimSpace(r.Header.Get(HeaderCallbackURL))
	if callback != "" {
		u, err := url.Parse(callback)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			s.writeError(w, r, fmt.Errorf("%w: %s must be an absolute http(s) URL", ErrBadInput, HeaderCallbackURL), id)
			return
		}
	}
	wait, err := s.waitDuration(r, q)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	if s.cfg.AuthenticateRequest {
		if err := s.authenticate(r, body); err != nil {
			s.writeError(w, r, err, id)
			return
		}
	}
	started := time.Now()
	ctx, cancel := s.invocation(r)
	defer cancel()
	res, err := s.eng.Start(ctx, engine.StartRequest{ID: id, Body: body, Query: q, CallbackURL: callback})
	if res != nil {
		id = res.ID
	}
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	w.Header().Set(HeaderRequestID, id)
	if res.Sync {
		w.Header().Set(HeaderState, res.State)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Result)
		return
	}
	state := res.State
	var (
		out   []byte
		final *engine.RequestRecord // the ended request's record, as Wait returned it
	)
	if wait > 0 && (state == engine.StateRunning || state == engine.StatePaused) {
		remaining := s.budget - time.Since(started)
		wctx, wcancel := context.WithTimeout(ctx, min(wait, remaining))
		res, rec, err := s.eng.Wait(wctx, id)
		wcancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			if rec != nil {
				state = rec.State
			}
		case err != nil && !errors.Is(err, engine.ErrNotFinished):
			s.writeError(w, r, err, id)
			return
		case rec != nil:
			state = rec.State
			if err == nil {
				out, final = res, rec
			}
		}
	}
	switch state {
	case engine.StateSucceeded, engine.StateFailed, engine.StateStopped:
		if wait > 0 || state == engine.StateFailed {
			if final != nil {
				s.writeOutcome(w, id, out, final)
				return
			}
			s.writeResult(w, r, id)
			return
		}
	}
	s.writeJSON(w, http.StatusAccepted, accepted{
		RequestID: id, Flow: s.cfg.Flow, State: state,
		StatePath: "/flow/" + url.PathEscape(id) + "/state",
		StateURL:  s.functionURL(id, "state"),
		ResultURL: s.functionURL(id, "result"),
	})
}

func (s *Server) functionURL(id, what string) string {
	return s.cfg.Gateway + "/function/" + url.PathEscape(s.cfg.Flow) + "/flow/" + url.PathEscape(id) + "/" + what
}

// waitDuration reads ?wait= or X-Faas-Flow-Wait: a duration (seconds or Go
// duration) or "true" for as long as the invocation allows.
func (s *Server) waitDuration(r *http.Request, q url.Values) (time.Duration, error) {
	v := q.Get("wait")
	if v == "" {
		v = r.Header.Get(HeaderWait)
	}
	v = strings.TrimSpace(v)
	if v == "" || v == "false" {
		return 0, nil
	}
	if v == "true" {
		return s.budget, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: wait: %v", ErrBadInput, err)
	}
	return min(d, s.budget), nil
}

// authenticate checks faas-flow's caller signature, X-Hub-Signature over
// the body: sha1=<hex> or sha256=<hex>.
func (s *Server) authenticate(r *http.Request, body []byte) error {
	sig := r.Header.Get("X-Hub-Signature")
	if sig == "" {
		return fmt.Errorf("%w: X-Hub-Signature is missing (authenticate_request=true)", ErrUnauthorized)
	}
	if !verifyHubSignature(s.cfg.HMACSecret, body, sig) {
		return fmt.Errorf("%w: X-Hub-Signature does not match the body", ErrUnauthorized)
	}
	return nil
}

func (s *Server) handleForward(w http.ResponseWriter, r *http.Request, id string) {
	if s.eng.IsSync() {
		s.writeError(w, r, fmt.Errorf("%w: this flow runs in one call and takes no hops", ErrNoRoute), id)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	if hid, ok := peekHopRequestID(body); ok && hid != id {
		s.writeError(w, r, fmt.Errorf("%w: hop of request %q posted to /flow/%s/forward", ErrBadInput, hid, id), id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	if err := s.eng.Receive(ctx, body); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"request_id": id, "status": "done"})
}

// peekHopRequestID reads the request id of a sealed hop without verifying
// it (only to reject a hop posted under another request's path).
func peekHopRequestID(body []byte) (string, bool) {
	var sh struct {
		Hop json.RawMessage `json:"hop"`
	}
	if json.Unmarshal(body, &sh) != nil || len(sh.Hop) == 0 {
		return "", false
	}
	var env struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(sh.Hop, &env) != nil || env.RequestID == "" {
		return "", false
	}
	return env.RequestID, true
}

// stateView is the JSON answer of GET /flow/{id}/state.
type stateView struct {
	RequestID string                       `json:"request_id"`
	Flow      string                       `json:"flow"`
	State     string                       `json:"state"`
	Created   time.Time                    `json:"created"`
	Updated   time.Time                    `json:"updated"`
	Ended     *time.Time                   `json:"ended,omitempty"`
	Error     string                       `json:"error,omitempty"`
	Nodes     map[string]engine.NodeStatus `json:"nodes"`
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	rec, err := s.eng.State(ctx, id)
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	v := stateView{RequestID: rec.ID, Flow: rec.Flow, State: rec.State, Created: rec.Created, Updated: rec.Updated,
		Ended: rec.Ended, Error: rec.Error, Nodes: rec.Nodes}
	if v.Nodes == nil {
		v.Nodes = map[string]engine.NodeStatus{}
	}
	w.Header().Set(HeaderRequestID, id)
	w.Header().Set(HeaderState, rec.State)
	s.writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	s.writeResult(w, r, id)
}

// writeResult answers with the result of request id: 200 and the body when
// it succeeded, 422 with the error when it failed, 409 while it runs or
// when it was stopped.
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, id string) {
	ctx, cancel := s.invocation(r)
	defer cancel()
	res, rec, err := s.eng.Result(ctx, id)
	if err != nil {
		w.Header().Set(HeaderRequestID, id)
		if rec != nil {
			w.Header().Set(HeaderState, rec.State)
		}
		s.writeError(w, r, err, id)
		return
	}
	s.writeOutcome(w, id, res, rec)
}

// writeOutcome answers with the result res of ended request id and its
// record rec.
func (s *Server) writeOutcome(w http.ResponseWriter, id string, res []byte, rec *engine.RequestRecord) {
	w.Header().Set(HeaderRequestID, id)
	w.Header().Set(HeaderState, rec.State)
	switch rec.State {
	case engine.StateSucceeded:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res)
	case engine.StateFailed:
		s.writeJSON(w, http.StatusUnprocessableEntity, errorBody{
			Error: "the flow failed: " + rec.Error, RequestID: id, State: rec.State, Status: http.StatusUnprocessableEntity,
			Result: string(res),
		})
	default:
		s.writeJSON(w, http.StatusConflict, errorBody{
			Error: fmt.Sprintf("request %s was %s: it has no result", id, rec.State), RequestID: id, State: rec.State, Status: http.StatusConflict,
		})
	}
}

func (s *Server) handleControl(w http.ResponseWriter, r *http.Request, action, id string) {
	if err := s.checkID(id); err != nil {
		s.writeError(w, r, err, id)
		return
	}
	ctx, cancel := s.invocation(r)
	defer cancel()
	var err error
	state := ""
	switch action {
	case "pause":
		err, state = s.eng.Pause(ctx, id), engine.StatePaused
	case "resume":
		err, state = s.eng.Resume(ctx, id), engine.StateRunning
	case "stop":
		err, state = s.eng.Stop(ctx, id), engine.StateStopped
	}
	if err != nil {
		s.writeError(w, r, err, id)
		return
	}
	w.Header().Set(HeaderRequestID, id)
	s.writeJSON(w, http.StatusOK, map[string]string{"request_id": id, "state": state, "message": action + " done"})
}

// checkID rejects an empty id, and any id of a flow that keeps no requests.
func (s *Server) checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty request id", ErrBadInput)
	}
	if s.eng.IsSync() {
		return fmt.Errorf("%w: %s: this flow runs in one call and keeps no request state", engine.ErrUnknownRequest, id)
	}
	return nil
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode response","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with StatusOf(err) and a JSON body naming the error.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, id string) {
	status := StatusOf(err)
	switch {
	case status >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err)
	case status == http.StatusUnauthorized:
		s.log.Warn("rejected", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err, "remote", r.RemoteAddr)
	default:
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "request", id, "status", status, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	msg := err.Error()
	if errors.Is(err, sdk.ErrNodeFailed) {
		msg = "the flow failed: " + msg
	}
	s.writeJSON(w, status, errorBody{Error: msg, RequestID: id, Status: status})
}
