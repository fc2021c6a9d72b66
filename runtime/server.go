package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/transport/gatewayhttp"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// Server is the flow function's HTTP server. It is an http.Handler; Serve
// runs it on a listener with timeouts and graceful shutdown.
// Its handlers are in routes.go, start.go, control.go, hops.go and dag.go.
type Server struct {
	cfg      Config
	eng      *engine.Engine
	log      *slog.Logger
	notifier *CallbackNotifier
	events   *EventPublisher
	metrics  http.Handler
	owned    []sdk.Closer
	hooks    []func(context.Context) error
	budget   time.Duration
	draining atomic.Bool
	// starting counts the new requests being admitted and started (see
	// admit).
	starting atomic.Int64
	// overrun receives the code of a node still running past its timeout
	// and past overrun_exit_grace: Serve then drains and returns.
	overrun chan engine.Overrun
	closed  atomic.Bool
}

// NewServer builds the engine for define from cfg: stores (only for flows
// of more than one node), the gateway transport, the HTTP invoker, the
// callback notifier and the HMAC signer. It refuses to build a multi-node
// flow without a flow name or without faasflow-hmac-secret (unless insecure
// mode is on), naming the setting to fix.
func NewServer(cfg Config, define sdk.DefineFunc, opts ...Option) (*Server, error) {
	o := collectOptions(cfg, opts)
	if err := checkServerConfig(cfg); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: o.Logger, metrics: o.Metrics, overrun: make(chan engine.Overrun, 1)}
	s.budget = cfg.WriteTimeout - min(cfg.WriteTimeout/10, 2*time.Second)
	ok := false
	defer func() {
		if !ok {
			_ = s.Close(context.Background())
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), max(cfg.Etcd.DialTimeout, 10*time.Second)+5*time.Second)
	defer cancel()
	observer, err := s.runExtensions(ctx, &o)
	if err != nil {
		return nil, err
	}
	// The request log: a line per request start and end and per node run.
	observer = engine.Observers(observer, requestLog{log: o.Logger})
	flow, err := engine.Compile(cfg.Flow, define)
	if err != nil {
		return nil, err
	}
	cbClient, err := guardedCallbackClient(cfg, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	s.notifier = NewCallbackNotifier(NotifierOptions{
		Client: cbClient, Key: cfg.HMACSecret, Attempts: cfg.CallbackAttempts,
		Timeout: cfg.CallbackTimeout, Logger: o.Logger,
	})
	eo := newEngineOptions(cfg, &o, s.notifier, observer)
	if s.events, err = openEvents(cfg, &o); err != nil {
		return nil, err
	}
	if s.events != nil {
		eo.Events = s.events
		if cfg.Events.Nodes {
			eo.Observer = engine.Observers(eo.Observer, s.events)
		}
	}
	if cfg.OverrunGrace > 0 {
		eo.OnOverrun = s.onOverrun
	}
	if !flow.IsSync() {
		if err := s.openHops(ctx, &o, &eo); err != nil {
			return nil, err
		}
		s.warnNoLogin()
	}
	s.eng, err = engine.NewFor(flow, eo)
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// collectOptions applies opts and fills in the defaults: a text logger on
// stderr at cfg.LogLevel and NewHTTPClient.
func collectOptions(cfg Config, opts []Option) Options {
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
	return o
}

// checkServerConfig rejects a configuration NewServer cannot serve with:
// timeouts that are not positive or an empty gateway.
func checkServerConfig(cfg Config) error {
	if cfg.WriteTimeout <= 0 || cfg.ReadTimeout <= 0 {
		return fmt.Errorf("%w: read_timeout and write_timeout must be more than zero", ErrInvalidConfig)
	}
	if cfg.Gateway == "" {
		return fmt.Errorf("%w: gateway is empty", ErrInvalidConfig)
	}
	return nil
}

// runExtensions calls o's extensions with the server's configuration. It
// returns o.Observer combined with the extensions' observers, and keeps the
// last metrics handler and every shutdown hook on s.
func (s *Server) runExtensions(ctx context.Context, o *Options) (engine.Observer, error) {
	observer := o.Observer
	for _, ext := range o.Extensions {
		x, err := ext(ctx, s.cfg)
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
	return observer, nil
}

// newEngineOptions returns the engine options every flow needs: the HTTP
// invoker, the notifier, the observer, the logger and the limits and
// lifetimes of cfg. A request_retention of 0 becomes the engine's -1 (keep
// nothing).
func newEngineOptions(cfg Config, o *Options, notifier *CallbackNotifier, observer engine.Observer) engine.Options {
	eo := engine.Options{
		Flow:     cfg.Flow,
		Invoker:  &HTTPInvoker{Gateway: cfg.Gateway, Client: o.HTTPClient, DefaultMethod: cfg.DefaultMethod, MaxResponse: cfg.MaxResponseSize},
		Notifier: notifier,
		Observer: observer,
		Logger:   o.Logger,

		InlineLimit:       cfg.InlineDataLimit,
		MaxHopAge:         cfg.HopMaxAge,
		RequestTTL:        cfg.RequestTTL,
		Retention:         cfg.RequestRetention,
		Lease:             cfg.NodeLease,
		StallAfter:        cfg.StallAfter,
		RedriveRetention:  redriveRetention(cfg.RedriveRetention),
		ReconcileInterval: cfg.ReconcileInterval,
	}
	if cfg.RequestRetention == 0 {
		eo.Retention = -1
	}
	return eo
}

// openHops sets up what a flow of more than one node needs in eo: the hop
// signer, the state and data stores and the hop transport. It refuses a
// configuration without a flow name or without faasflow-hmac-secret (unless
// insecure mode is on). Stores and transports it opens are added to s.owned,
// for Close.
func (s *Server) openHops(ctx context.Context, o *Options, eo *engine.Options) error {
	cfg := s.cfg
	if cfg.Flow == "" {
		return fmt.Errorf("%w: the flow name is not set: set env flow_name to the function's name (OpenFaaS Pro and faas-cli local-run set OPENFAAS_NAME)", ErrInvalidConfig)
	}
	if len(cfg.HMACSecret) == 0 && !cfg.InsecureHops {
		return fmt.Errorf("%w: the secret faasflow-hmac-secret is missing from %s: a flow of more than one node signs its hops with it. Create it (faas-cli secret create faasflow-hmac-secret --from-literal=\"$(head -c 32 /dev/urandom | base64)\") and list it under secrets: in stack.yml, or set faasflow_insecure_hops=true for local experiments", ErrInvalidConfig, cfg.SecretMountPath)
	}
	signer, err := engine.NewSigner(cfg.HMACSecret, cfg.InsecureHops)
	if err != nil {
		return err
	}
	st, ds, owned, err := openStores(ctx, cfg, o)
	if err != nil {
		return err
	}
	s.owned = owned
	eo.Signer, eo.StateStore, eo.DataStore = signer, st, ds
	eo.Transport, err = s.openTransport(o)
	return err
}

// defaultNATSUser is the NATS user of a flow given only nats-password: the
// one the local gateway's embedded NATS has.
const defaultNATSUser = "faasflow"

// openTransport returns the hop transport hop_transport names: a NATS
// JetStream publisher (natsqueue.Transport, added to s.owned) or, by
// default, POSTs to the gateway's /async-function endpoint
// (gatewayhttp.Transport).
func (s *Server) openTransport(o *Options) (engine.Transport, error) {
	cfg := s.cfg
	switch cfg.HopTransport {
	case HopsViaNATS:
		var login []nats.Option
		if cfg.NATSPassword != "" {
			user := cfg.NATSUser
			if user == "" {
				user = defaultNATSUser
			}
			login = append(login, nats.UserInfo(user, cfg.NATSPassword))
		}
		t, err := natsqueue.NewTransport(cfg.NATSURL, cfg.Flow, cfg.ForwardTimeout, login...)
		if err != nil {
			return nil, fmt.Errorf("%w: nats_url: %w", ErrInvalidConfig, err)
		}
		s.owned = append(s.owned, t)
		return t, nil
	default:
		return &gatewayhttp.Transport{Gateway: cfg.Gateway, Flow: cfg.Flow, Client: o.HTTPClient, Timeout: cfg.ForwardTimeout}, nil
	}
}

// Engine returns the server's engine.
func (s *Server) Engine() *engine.Engine { return s.eng }

// Config returns the configuration the server was built with.
func (s *Server) Config() Config { return s.cfg }

// Serve answers requests on ln until ctx ends, then drains: health checks
// fail for healthcheck_interval while requests are still served, then the
// server shuts down (bounded by write_timeout) and Close runs. It drains
// the same way, within overrun_exit_grace, and returns an ErrOverrun, when
// the code of a node kept running that long past its timeout (see
// onOverrun), so that the process exits and is restarted.
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
	defer s.background(ctx)()
	s.log.Info("flow function listening", "flow", s.cfg.Flow, "addr", ln.Addr().String(), "sync", s.eng.IsSync())
	var serveErr, exitErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		serveErr = s.drain(hs, errc, s.cfg.HealthcheckInterval)
	case ov := <-s.overrun:
		exitErr = overrunError(ov)
		serveErr = s.drain(hs, errc, min(s.cfg.HealthcheckInterval, s.cfg.OverrunGrace))
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	cctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	return errors.Join(exitErr, serveErr, s.Close(cctx))
}

// drain makes health checks fail for grace while requests are still
// served, then shuts hs down, waiting for the requests in flight (within
// write_timeout). errc is where hs.Serve returns.
func (s *Server) drain(hs *http.Server, errc <-chan error, grace time.Duration) error {
	s.draining.Store(true)
	var serveErr error
	if grace > 0 {
		s.log.Info("draining", "grace", grace)
		timer := time.NewTimer(grace)
		select {
		case <-timer.C:
		case serveErr = <-errc:
			timer.Stop()
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	return serveErr
}

// redriveRetention maps the setting (0: no redrive) to the engine's option
// (negative: no redrive).
func redriveRetention(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// background starts the server's background work, the expiry of abandoned
// data and the reconciler, and returns the function that stops it.
func (s *Server) background(ctx context.Context) (stop func()) {
	bctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.expireLoop(bctx, time.Hour) }()
	go func() { defer wg.Done(); _ = s.eng.RunReconciler(bctx) }()
	return func() { cancel(); wg.Wait() }
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
// shutdown hooks and closes the stores (and the NATS hop transport) the
// server opened.
func (s *Server) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	if s.notifier != nil {
		errs = append(errs, s.notifier.Close(ctx))
	}
	if s.events != nil {
		errs = append(errs, s.events.Close(ctx))
	}
	for _, h := range s.hooks {
		errs = append(errs, h(ctx))
	}
	for _, c := range s.owned {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
