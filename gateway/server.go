package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// Version is reported by /system/info and X-Served-By.
const Version = "0.1.0"

// FlowLang is the template language whose functions get the flow env.
const FlowLang = "faas-flow"

// FlowYAMLLang is the template language of declarative flows (a flow.yaml
// run by the same runtime); its functions get the flow env too.
const FlowYAMLLang = "faas-flow-yaml"

// isFlowLang reports whether functions of template language lang are flow
// functions.
func isFlowLang(lang string) bool { return lang == FlowLang || lang == FlowYAMLLang }

// Options configure a Server.
type Options struct {
	// Store is the persisted registry (required).
	Store *store.Store
	// Supervisor runs the functions (required).
	Supervisor *supervisor.Supervisor
	// Publisher queues async requests; nil disables /async-function (404).
	Publisher *natsqueue.Publisher
	// QueueUnknown queues an async call to a function that is not deployed
	// and answers 202, as OpenFaaS CE does (its worker's call then fails);
	// by default such a call is refused with 404.
	QueueUnknown bool
	// QueueAdmitBelow refuses a new async call with 429 and Retry-After
	// once its function has this many calls queued (0: no check). It sits
	// below the stream's own bound per function, so that the hops of flow
	// requests already running still find room; a call the stream itself
	// refuses (natsqueue.ErrQueueFull) is answered 429 too.
	QueueAdmitBelow int64
	// Auth protects /system/* with basic auth; nil leaves them open.
	Auth *Credentials
	// PayloadSecret verifies POST /build; empty disables the builder (404).
	PayloadSecret []byte
	// MaxBuildBytes bounds the archive of a POST /build (default
	// remotebuild.MaxBytes, 256 MiB): a larger one is answered 413, at
	// once when its Content-Length says so, else when reading passes it.
	MaxBuildBytes int64
	// MaxConcurrentBuilds bounds the POST /build requests handled at once,
	// upload and compilation (default 2); one more is answered 429 with
	// Retry-After before its body is read.
	MaxConcurrentBuilds int
	// BuildUploadTimeout bounds the upload of a POST /build archive
	// (default 2 minutes): a body still arriving then is answered 408, so a
	// client that sends slowly cannot keep a build slot.
	BuildUploadTimeout time.Duration
	// StateDir receives builds (StateDir/builds, StateDir/bin,
	// StateDir/build-cache); required when PayloadSecret is set.
	StateDir string
	// BuildCacheDir keeps binaries by content hash (default StateDir/build-cache).
	BuildCacheDir string
	// SDKDir is the local faas-flow checkout used for remote builds.
	SDKDir string
	// Env is set for every function (the gateway URL…); a function's own
	// envVars win.
	Env map[string]string
	// FlowEnv is set for functions built from the faas-flow template, under
	// their envVars (state/data store settings).
	FlowEnv map[string]string
	// FlowSecrets are added to the secrets of faas-flow functions.
	FlowSecrets []string
	// Registry receives metrics (nil: a new registry, see Server.Registry).
	Registry *prometheus.Registry
	// Metrics, when set, is used instead of creating collectors on Registry.
	Metrics *Metrics
	// TracerProvider traces routes (nil: no-op).
	TracerProvider trace.TracerProvider
	// Logger receives gateway events (nil: discarded).
	Logger *slog.Logger
	// MaxBodyBytes bounds sync request bodies (default 32 MiB). A larger
	// body is answered 413 and never reaches the function cut short: see
	// docs/gateway.md, "Request body limit".
	MaxBodyBytes int64
	// FunctionProcs is the GOMAXPROCS of functions that set neither
	// GOMAXPROCS in their environment nor a CPU limit (0: Go's default, all
	// CPUs). A function with limits.cpu gets what Go picks in a container
	// with that limit: the limit rounded up, at least 1. See GoMaxProcs.
	FunctionProcs int
	// S3WebhookToken is the token bucket notifications posted to
	// S3EventsPath must carry (Authorization: Bearer <token>); empty
	// refuses them all (401).
	S3WebhookToken string
	// FunctionGOGC is the GOGC (garbage collector percent) of functions
	// whose environment sets neither GOGC nor GOMEMLIMIT (0: Go's default).
	// A function with limits.memory gets GOMEMLIMIT besides, which keeps a
	// high percent from taking it past its limit.
	FunctionGOGC int
	// UI is the dashboard, served at /ui/ behind Auth, with GET /
	// redirecting to it; nil leaves / and /ui/ unanswered (404).
	UI http.Handler
}

// Server is the gateway HTTP API.
type Server struct {
	opts    Options
	reg     *prometheus.Registry
	metrics *Metrics
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	mux     *http.ServeMux
	handler http.Handler
	// copyBufs holds the buffers forward (relay) copies response bodies with.
	copyBufs sync.Pool
	// streams is cancelled by CloseStreams: open-ended answers (followed
	// logs) end with it, so that a graceful shutdown need not wait for them.
	streams      context.Context
	closeStreams context.CancelFunc
	// binaries is read-locked by builds from compiling a binary until the
	// registry refers to it; pruneBinaries runs only when none is.
	binaries sync.RWMutex
	// buildSlots holds a token per POST /build in progress (capacity
	// MaxConcurrentBuilds).
	buildSlots chan struct{}
	// replicasMu orders the changes of a function's replicas (deploy,
	// scale, scale from zero): each records them and applies them whole.
	replicasMu sync.Mutex
	// admission serialises the admission of new async calls per function
	// (striped by subject; see admitAsync).
	admission [admissionStripes]sync.Mutex
}

// NewServer builds the HTTP API.
func NewServer(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Supervisor == nil {
		return nil, errors.New("gateway: Options.Store and Options.Supervisor are required")
	}
	if len(opts.PayloadSecret) > 0 && opts.StateDir == "" {
		return nil, errors.New("gateway: Options.StateDir is required for the builder")
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.BuildCacheDir == "" && opts.StateDir != "" {
		opts.BuildCacheDir = filepath.Join(opts.StateDir, "build-cache")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.MaxBuildBytes <= 0 {
		opts.MaxBuildBytes = remotebuild.MaxBytes
	}
	if opts.MaxConcurrentBuilds <= 0 {
		opts.MaxConcurrentBuilds = 2
	}
	if opts.BuildUploadTimeout <= 0 {
		opts.BuildUploadTimeout = 2 * time.Minute
	}
	m := opts.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(opts.Registry); err != nil {
			return nil, err
		}
	}
	s := &Server{
		opts: opts, reg: opts.Registry, metrics: m,
		tracer: opts.TracerProvider.Tracer("github.com/faas-flow/faas-flow/gateway"),
		prop:   propagation.TraceContext{},
		mux:    http.NewServeMux(),

		buildSlots: make(chan struct{}, opts.MaxConcurrentBuilds),
	}
	s.copyBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	s.streams, s.closeStreams = context.WithCancel(context.Background())
	s.routes()
	s.handler = s.trace(s.mux)
	s.pruneBinaries() // left by an earlier run
	s.clearBuilds()
	return s, nil
}

// CloseStreams ends the open-ended answers in progress (followed logs) and
// any started later. Call it when shutting down, for example with
// http.Server.RegisterOnShutdown: Shutdown waits for every request.
func (s *Server) CloseStreams() { s.closeStreams() }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Registry is the Prometheus registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// routes registers the API on s.mux: /system/* behind auth, and the async
// and build endpoints only when their options enable them.
func (s *Server) routes() {
	sys := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, requireAuth(s.opts.Auth, h)) }
	health := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }
	s.mux.HandleFunc("GET /healthz", health)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))

	sys("GET /system/info", s.info)
	sys("GET /system/functions", s.listFunctions)
	sys("POST /system/functions", s.deploy(false))
	sys("PUT /system/functions", s.deploy(true))
	sys("DELETE /system/functions", s.deleteFunction)
	sys("GET /system/function/{name}", s.getFunction)
	sys("POST /system/scale-function/{name}", s.scaleFunction)
	sys("GET /system/namespaces", s.namespaces)
	sys("GET /system/logs", s.logs)
	sys("GET /system/secrets", s.listSecrets)
	sys("POST /system/secrets", s.writeSecret(false))
	sys("PUT /system/secrets", s.writeSecret(true))
	sys("DELETE /system/secrets", s.deleteSecret)

	if s.opts.UI != nil {
		s.mux.Handle("/ui/", requireAuth(s.opts.Auth, http.StripPrefix("/ui", s.opts.UI)))
		s.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	// Its own token, not the gateway's login: MinIO's webhook sends one.
	s.mux.HandleFunc("POST "+S3EventsPath, s.s3Events)
	s.mux.HandleFunc("/function/{name}", s.invoke)
	s.mux.HandleFunc("/function/{name}/{rest...}", s.invoke)
	if s.opts.Publisher != nil {
		s.mux.HandleFunc("POST /async-function/{name}", s.invokeAsync)
		s.mux.HandleFunc("POST /async-function/{name}/{rest...}", s.invokeAsync)
	}
	if len(s.opts.PayloadSecret) > 0 {
		s.mux.HandleFunc("POST /build", s.build)
	}
}

// trace wraps every route in a server span continuing the caller's trace.
func (s *Server) trace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := s.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, r.Method+" "+routeName(r.URL.Path), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
	})
}

// routeName is the span name of a path: the function routes are cut after
// the function name, and the dashboard's after its first segment, so that
// span names do not grow with the request path.
func routeName(p string) string {
	for _, prefix := range []string{"/function/", "/async-function/", "/system/function/", "/system/scale-function/", "/ui/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			name, _, _ := strings.Cut(rest, "/")
			return prefix + name
		}
	}
	return p
}

// statusRecorder keeps the status a handler answered with, for its span.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeJSON answers code with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// httpError answers code with msg as plain text.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

// namespaceOK accepts the empty namespace and the only one served.
func namespaceOK(ns string) bool { return ns == "" || ns == api.DefaultNamespace }
