package runtime

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/sdk"
)

// Options adjust a Server (and Run). Set them with the With... functions.
type Options struct {
	// Observer receives engine events (tracing, metrics).
	Observer engine.Observer
	// Metrics, when set, is served at GET /metrics (for example a
	// Prometheus handler).
	Metrics http.Handler
	// Extensions run once the configuration is known and may add an
	// observer, a metrics handler and a shutdown hook (package tracing
	// plugs in here).
	Extensions []Extension
	// NoDefaultObservability stops Run from installing Observability
	// (tracing from the environment and Prometheus metrics).
	NoDefaultObservability bool
	// StateStore and DataStore, when set, are called once at start; a nil
	// store means "use the configured one". The template wires the
	// handler's DefineStateStore/OverrideStateStore (and DataStore) here.
	StateStore func() (sdk.StateStore, error)
	DataStore  func() (sdk.DataStore, error)
	// Logger receives the runtime's and the engine's logs (default: text on
	// stderr at log_level).
	Logger *slog.Logger
	// HTTPClient makes every outbound call (default NewHTTPClient()).
	HTTPClient *http.Client

	// Getenv and Secrets are where Run reads the configuration (default
	// os.Getenv and the files in secret_mount_path).
	Getenv  func(string) string
	Secrets SecretReader

	unscanned bool
}

// StoreOverridesNotScanned is what the template passes when its build did
// not scan handler.go for store functions (go generate was not run); Run
// then warns that such functions are ignored.
func StoreOverridesNotScanned() Option { return func(o *Options) { o.unscanned = true } }

// Option sets one of the Options.
type Option func(*Options)

// Extension is called by NewServer with the loaded configuration.
type Extension func(ctx context.Context, cfg Config) (Extras, error)

// Extras is what an Extension adds.
type Extras struct {
	Observer engine.Observer
	Metrics  http.Handler
	// Shutdown is called when the server stops (flush spans...).
	Shutdown func(context.Context) error
}

// WithObserver adds an engine observer (several are combined in order).
func WithObserver(o engine.Observer) Option {
	return func(opts *Options) { opts.Observer = engine.Observers(opts.Observer, o) }
}

// WithMetrics serves h at GET /metrics.
func WithMetrics(h http.Handler) Option { return func(o *Options) { o.Metrics = h } }

// WithExtension adds an Extension.
func WithExtension(e Extension) Option {
	return func(o *Options) { o.Extensions = append(o.Extensions, e) }
}

// WithStateStore makes f the source of the state store (a handler's
// DefineStateStore or OverrideStateStore). f returning nil, nil keeps the
// configured store.
func WithStateStore(f func() (sdk.StateStore, error)) Option {
	return func(o *Options) { o.StateStore = f }
}

// WithDataStore makes f the source of the data store (a handler's
// DefineDataStore or OverrideDataStore). f returning nil, nil keeps the
// configured store.
func WithDataStore(f func() (sdk.DataStore, error)) Option {
	return func(o *Options) { o.DataStore = f }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithHTTPClient sets the client of every outbound call.
func WithHTTPClient(c *http.Client) Option { return func(o *Options) { o.HTTPClient = c } }

// WithEnv makes Run read environment variables through getenv.
func WithEnv(getenv func(string) string) Option { return func(o *Options) { o.Getenv = getenv } }

// WithSecrets makes Run read secrets from r.
func WithSecrets(r SecretReader) Option { return func(o *Options) { o.Secrets = r } }
