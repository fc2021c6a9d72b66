package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
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
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// Version is reported by /system/info and X-Served-By.
const Version = "0.1.0"

// FlowLang is the template language whose functions get the flow env.
const FlowLang = "faas-flow"

// Options configure a Server.
type Options struct {
	// Store is the persisted registry (required).
	Store *store.Store
	// Supervisor runs the functions (required).
	Supervisor *supervisor.Supervisor
	// Publisher queues async requests; nil disables /async-function (404).
	Publisher *natsqueue.Publisher
	// Auth protects /system/* with basic auth; nil leaves them open.
	Auth *Credentials
	// PayloadSecret verifies POST /build; empty disables the builder (404).
	PayloadSecret []byte
	// StateDir receives builds (StateDir/builds, StateDir/bin,
	// StateDir/build-cache); required when PayloadSecret is set.
	StateDir string
	// BuildCacheDir keeps binaries by content hash (default StateDir/build-cache).
	BuildCacheDir string
	// SDKDir is the local faas-flow checkout used for remote builds.
	SDKDir string
	// Env is set for every function, overriding its envVars (gateway URL…).
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
	// MaxBodyBytes bounds sync request bodies (default 32 MiB).
	MaxBodyBytes int64
	// FunctionProcs is the GOMAXPROCS of functions that set neither
	// GOMAXPROCS in their environment nor a CPU limit (0: Go's default, all
	// CPUs). A function with limits.cpu gets what Go picks in a container
	// with that limit: the limit rounded up, at least 1. See GoMaxProcs.
	FunctionProcs int
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
	// copyBufs holds the buffers forward copies response bodies with.
	copyBufs sync.Pool
	// streams is cancelled by CloseStreams: open-ended answers (followed
	// logs) end with it, so that a graceful shutdown need not wait for them.
	streams      context.Context
	closeStreams context.CancelFunc
	// binaries is read-locked by builds from compiling a binary until the
	// registry refers to it; pruneBinaries runs only when none is.
	binaries sync.RWMutex
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
	}
	s.copyBufs.New = func() any { b := make([]byte, 32<<10); return &b }
	s.streams, s.closeStreams = context.WithCancel(context.Background())
	s.routes()
	s.handler = s.trace(s.mux)
	s.pruneBinaries() // left by an earlier run
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

func routeName(p string) string {
	for _, prefix := range []string{"/function/", "/async-function/", "/system/function/", "/system/scale-function/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			name, _, _ := strings.Cut(rest, "/")
			return prefix + name
		}
	}
	return p
}

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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

// namespaceOK accepts the empty namespace and the only one served.
func namespaceOK(ns string) bool { return ns == "" || ns == api.DefaultNamespace }

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	v := &api.VersionInfo{SHA: "", Release: Version}
	writeJSON(w, http.StatusOK, api.GatewayInfo{
		Provider: &api.ProviderInfo{Name: "faasflow-local", Version: v, Orchestration: "process"},
		Version:  &api.VersionInfo{CommitMessage: "faas-flow local gateway", SHA: "", Release: Version},
		Arch:     runtime.GOARCH,
	})
}

func (s *Server) namespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []string{api.DefaultNamespace})
}

func (s *Server) status(f store.Function) api.FunctionStatus {
	d := f.Deployment
	st := api.FunctionStatus{
		Name: d.Service, Image: d.Image, Namespace: api.DefaultNamespace, EnvProcess: d.EnvProcess,
		EnvVars: d.EnvVars, Constraints: d.Constraints, Secrets: d.Secrets, Labels: d.Labels,
		Annotations: d.Annotations, Limits: d.Limits, Requests: d.Requests,
		ReadOnlyRootFilesystem: d.ReadOnlyRootFilesystem, Replicas: f.Replicas, CreatedAt: f.CreatedAt,
		InvocationCount: s.metrics.invocationCount(d.Service),
	}
	if inst, ok := s.opts.Supervisor.Get(d.Service); ok && inst.Ready() && f.Replicas > 0 {
		st.AvailableReplicas = 1
	}
	return st
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !namespaceOK(r.URL.Query().Get("namespace")) {
		writeJSON(w, http.StatusOK, []api.FunctionStatus{})
		return
	}
	out := []api.FunctionStatus{}
	for _, f := range s.opts.Store.List() {
		out = append(out, s.status(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request) {
	name, ns := api.SplitName(r.PathValue("name"))
	if q := r.URL.Query().Get("namespace"); q != "" {
		ns = q
	}
	f, ok := s.opts.Store.Get(name)
	if !ok || !namespaceOK(ns) {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, s.status(f))
}

// deploy handles POST (create or update) and PUT (update; 404 when missing,
// which makes faas-cli fall back to POST). Success is 202.
func (s *Server) deploy(update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d api.FunctionDeployment
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&d); err != nil {
			httpError(w, http.StatusBadRequest, "invalid deployment JSON: "+err.Error())
			return
		}
		if !api.ValidName(d.Service) {
			httpError(w, http.StatusBadRequest, "service name "+strconv.Quote(d.Service)+" must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
			return
		}
		if d.Image == "" {
			httpError(w, http.StatusBadRequest, "image is required")
			return
		}
		if !namespaceOK(d.Namespace) {
			httpError(w, http.StatusBadRequest, "namespace must be: "+api.DefaultNamespace)
			return
		}
		old, exists := s.opts.Store.Get(d.Service)
		if update && !exists {
			httpError(w, http.StatusNotFound, "function "+d.Service+" not found")
			return
		}
		f := store.Function{Deployment: d, CreatedAt: time.Now().UTC(), Replicas: 1}
		if exists {
			f.CreatedAt = old.CreatedAt
			if old.Replicas > 0 {
				f.Replicas = old.Replicas
			}
		}
		if img, ok := s.opts.Store.Image(d.Image); ok {
			f.Binary, f.Lang = img.Binary, img.Lang
		} else if d.EnvProcess == "" || strings.HasPrefix(d.EnvProcess, "./") {
			httpError(w, http.StatusBadRequest, "image "+d.Image+" was not built by this gateway: build it first "+
				"(faasflow deploy -f stack.yml, or faas-cli up --remote-builder <gateway>/ --payload-secret <file>), "+
				"or give an fprocess command to run per request")
			return
		}
		spec := s.spec(f)
		if err := s.opts.Supervisor.CheckSecrets(spec.Secrets); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := s.opts.Store.Put(f); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if err := s.opts.Supervisor.Start(r.Context(), spec); err != nil {
			httpError(w, http.StatusInternalServerError, "start "+d.Service+": "+err.Error())
			return
		}
		s.opts.Logger.Info("deployed", "function", d.Service, "image", d.Image, "update", exists)
		s.pruneBinaries()
		w.WriteHeader(http.StatusAccepted)
	}
}

// spec turns a registry entry into what the supervisor runs.
func (s *Server) spec(f store.Function) supervisor.Spec {
	d := f.Deployment
	env := map[string]string{}
	secrets := append([]string(nil), d.Secrets...)
	if f.Lang == FlowLang {
		maps.Copy(env, s.opts.FlowEnv)
		for _, sec := range s.opts.FlowSecrets {
			if !contains(secrets, sec) {
				secrets = append(secrets, sec)
			}
		}
	}
	maps.Copy(env, d.EnvVars)
	maps.Copy(env, s.opts.Env)
	if d.EnvProcess != "" {
		env["fprocess"] = d.EnvProcess
	}
	env["OPENFAAS_NAME"] = d.Service
	env["OPENFAAS_NAMESPACE"] = api.DefaultNamespace
	if _, set := d.EnvVars["GOMAXPROCS"]; !set {
		var limit string
		if d.Limits != nil {
			limit = d.Limits.CPU
		}
		if n := GoMaxProcs(limit, s.opts.FunctionProcs); n > 0 {
			env["GOMAXPROCS"] = strconv.Itoa(n)
		}
	}
	spec := supervisor.Spec{Name: d.Service, Binary: f.Binary, Env: env, Secrets: secrets}
	if f.Binary == "" {
		spec.FProcess = d.EnvProcess
	}
	return spec
}

// GoMaxProcs is the GOMAXPROCS a function process gets from its CPU limit
// (a Kubernetes quantity such as "500m", "1" or "1.5"): the limit rounded
// up, at least 1, which is what Go picks inside a container with that limit.
// Without a valid limit it is def (0: leave Go's default).
func GoMaxProcs(cpuLimit string, def int) int {
	v := strings.TrimSpace(cpuLimit)
	scale := 1.0
	if m, ok := strings.CutSuffix(v, "m"); ok {
		v, scale = m, 1000
	}
	cpus, err := strconv.ParseFloat(v, 64)
	if err != nil || cpus <= 0 || math.IsInf(cpus, 0) || math.IsNaN(cpus) {
		return def
	}
	return max(1, int(math.Ceil(cpus/scale)))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Restore starts every registered function with replicas > 0 (after a restart).
func (s *Server) Restore(ctx context.Context) error {
	var errs []error
	for _, f := range s.opts.Store.List() {
		if f.Replicas == 0 {
			continue
		}
		if err := s.opts.Supervisor.Start(ctx, s.spec(f)); err != nil {
			errs = append(errs, err)
			s.opts.Logger.Error("restore function", "function", f.Deployment.Service, "err", err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) deleteFunction(w http.ResponseWriter, r *http.Request) {
	var req api.DeleteFunctionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.FunctionName == "" {
		httpError(w, http.StatusBadRequest, "body must be {\"functionName\": NAME}")
		return
	}
	if !namespaceOK(req.Namespace) {
		httpError(w, http.StatusNotFound, "function "+req.FunctionName+" not found")
		return
	}
	if err := s.opts.Store.Delete(req.FunctionName); err != nil {
		if errors.Is(err, api.ErrFunctionNotFound) {
			httpError(w, http.StatusNotFound, "function "+req.FunctionName+" not found")
			return
		}
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	_ = s.opts.Supervisor.Stop(req.FunctionName)
	s.pruneBinaries()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) scaleFunction(w http.ResponseWriter, r *http.Request) {
	name, _ := api.SplitName(r.PathValue("name"))
	var req api.ScaleServiceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "invalid scale request: "+err.Error())
		return
	}
	ns := req.Namespace
	if q := r.URL.Query().Get("namespace"); q != "" {
		ns = q
	}
	f, ok := s.opts.Store.Get(name)
	if !ok || !namespaceOK(ns) {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	if err := s.opts.Store.SetReplicas(name, req.Replicas); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	f.Replicas = req.Replicas
	_, running := s.opts.Supervisor.Get(name)
	switch {
	case req.Replicas == 0 && running:
		_ = s.opts.Supervisor.Stop(name)
	case req.Replicas > 0 && !running:
		if err := s.opts.Supervisor.Start(r.Context(), s.spec(f)); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		httpError(w, http.StatusUnprocessableEntity, "query parameter name is required")
		return
	}
	name, _ = api.SplitName(name)
	if _, ok := s.opts.Store.Get(name); !ok {
		httpError(w, http.StatusNotFound, "function "+name+" not found")
		return
	}
	tail, _ := strconv.Atoi(q.Get("tail"))
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			httpError(w, http.StatusUnprocessableEntity, "since must be RFC 3339")
			return
		}
		since = t
	}
	follow, _ := strconv.ParseBool(q.Get("follow"))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(lines []supervisor.LogLine) error {
		for _, l := range lines {
			if !since.IsZero() && l.Time.Before(since) {
				continue
			}
			if err := enc.Encode(api.LogMessage{Name: name, Namespace: api.DefaultNamespace, Instance: l.Instance, Timestamp: l.Time, Text: l.Text}); err != nil {
				return err
			}
		}
		return nil
	}
	if !follow {
		lines, _ := s.opts.Supervisor.Logs(name, tail)
		_ = write(lines)
		return
	}
	// A followed log is open until the caller goes away or the function is
	// removed: no write deadline, and every batch of lines is flushed.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	_ = s.opts.Supervisor.FollowLogs(ctx, name, tail, func(lines []supervisor.LogLine) error {
		if err := write(lines); err != nil {
			return err
		}
		return rc.Flush()
	})
}

func secretNameOK(n string) bool {
	return api.ValidName(n) || (n != "" && !strings.ContainsAny(n, `/\`) && n != "." && n != "..")
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	entries, _ := filepathGlob(s.opts.Supervisor.SecretsDir())
	out := []api.Secret{}
	for _, n := range entries {
		out = append(out, api.Secret{Name: n, Namespace: api.DefaultNamespace})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) writeSecret(update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sec api.Secret
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sec); err != nil || !secretNameOK(sec.Name) {
			httpError(w, http.StatusBadRequest, "body must be {\"name\": NAME, \"value\": VALUE}")
			return
		}
		value := []byte(sec.Value)
		if sec.Value == "" {
			value = sec.RawValue
		}
		exists := fileExists(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name))
		switch {
		case update && !exists:
			httpError(w, http.StatusNotFound, "secret "+sec.Name+" not found")
			return
		case !update && exists:
			httpError(w, http.StatusConflict, "secret "+sec.Name+" already exists")
			return
		}
		if err := writeFileAtomic(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name), value); err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	var sec api.Secret
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&sec); err != nil || !secretNameOK(sec.Name) {
		httpError(w, http.StatusBadRequest, "body must be {\"name\": NAME}")
		return
	}
	if err := removeFile(filepath.Join(s.opts.Supervisor.SecretsDir(), sec.Name)); err != nil {
		httpError(w, http.StatusNotFound, "secret "+sec.Name+" not found")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
