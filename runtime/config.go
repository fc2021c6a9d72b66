package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every configuration error LoadConfig
// returns.
var ErrInvalidConfig = errors.New("invalid flow function configuration")

// Store kinds accepted by state_store and data_store.
const (
	StoreEtcd   = "etcd"
	StoreMemory = "memory"
	StoreMinio  = "minio"
	StoreS3     = "s3"
	StoreLocal  = "local"
)

// Hop transports accepted by hop_transport.
const (
	HopsViaGateway = "gateway"
	HopsViaNATS    = "nats"
)

// Config is the typed configuration of a flow function, read once at start
// by LoadConfig. Settings describes every field's source and default.
type Config struct {
	// Flow is the flow's name: the function name the gateway knows it by.
	Flow string
	// Gateway is the base URL of the OpenFaaS gateway, with scheme and no
	// trailing slash.
	Gateway string
	// HopTransport is HopsViaGateway or HopsViaNATS; NATSURL is the server
	// HopsViaNATS publishes to.
	HopTransport string
	NATSURL      string
	// NATSUser and NATSPassword log in to NATSURL (none when NATSPassword
	// is empty).
	NATSUser, NATSPassword string
	// ListenAddr is the address the HTTP server listens on.
	ListenAddr string
	// SecretMountPath is the folder OpenFaaS mounts secrets in.
	SecretMountPath string

	// HMACSecret signs hops and callbacks. Empty only in insecure mode.
	HMACSecret []byte
	// InsecureHops accepts unsigned hops and sends unsigned ones (local
	// experiments only); InsecureReason names the setting that enabled it.
	InsecureHops   bool
	InsecureReason string
	// AuthenticateRequest requires X-Hub-Signature on new requests.
	AuthenticateRequest bool
	// ControlAuth is ControlAuthBasic (the routes that read or change
	// requests want ControlUser and ControlPassword as HTTP basic auth; ""
	// means the same) or ControlAuthNone.
	ControlAuth                  string
	ControlUser, ControlPassword string

	ReadTimeout         time.Duration
	WriteTimeout        time.Duration
	HealthcheckInterval time.Duration
	// OverrunGrace is how long code of a node still running past its
	// timeout may go on before the server drains and Serve returns
	// ErrOverrun (0: never).
	OverrunGrace time.Duration
	// MaxBodySize bounds request bodies (413 above it); MaxResponseSize
	// bounds responses read from functions and URLs.
	MaxBodySize     int64
	MaxResponseSize int64
	// MaxRunningRequests bounds the flow's requests running at once (0:
	// unbounded); a new request past it is answered 429.
	MaxRunningRequests int

	InlineDataLimit  int
	RequestRetention time.Duration // 0: keep nothing once a request ends
	RequestTTL       time.Duration
	HopMaxAge        time.Duration
	NodeLease        time.Duration
	StallAfter       time.Duration
	// RedriveRetention is how long a failed or stopped request can be
	// redriven (0: not at all).
	RedriveRetention time.Duration
	// ReconcileInterval is the time between reconciler passes.
	ReconcileInterval time.Duration
	DefaultMethod     string

	ForwardTimeout   time.Duration
	CallbackAttempts int
	CallbackTimeout  time.Duration
	// CallbackAllow lists completion callback destinations allowed on the
	// addresses of the flow's own etcd and NATS (callbackguard.Options.Allow).
	CallbackAllow []string

	StateStore string // StoreEtcd or StoreMemory
	Etcd       EtcdConfig
	DataStore  string // StoreMinio, StoreS3, StoreLocal or StoreMemory
	S3         S3Config
	DataDir    string

	Tracing TracingConfig
	// Events configures completion events (events.go).
	Events EventsConfig

	LogLevel slog.Level
	// DebugPprof serves net/http/pprof under /debug/pprof/ (debug_pprof).
	DebugPprof bool
	// GCHeapFloor is the smallest heap goal Run lets the Go GC aim for
	// (gc_heap_floor; 0: Go's own goal).
	GCHeapFloor int64

	// Warnings lists accepted but risky settings (insecure mode, legacy
	// names); Run logs them at start.
	Warnings []string

	healthcheckSet bool
}

// EtcdConfig configures the etcd state store.
type EtcdConfig struct {
	Endpoints      []string
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	KeyPrefix      string
	Username       string
	Password       string
	CAFile         string
	CertFile       string
	KeyFile        string
	ServerName     string
	// SerializableReads: see etcd_serializable_reads.
	SerializableReads bool
}

// S3Config configures the MinIO/S3 data store.
type S3Config struct {
	URL       string // host:port or URL of the S3 endpoint
	Region    string
	TLS       bool
	CAFile    string // PEM CAs trusted for TLS instead of the system roots
	Bucket    string
	PathStyle bool
	AccessKey string
	SecretKey string
}

// TracingConfig holds the tracing settings; package tracing interprets them.
type TracingConfig struct {
	Enabled     bool
	TraceServer string
	// OTEL holds the OpenTelemetry variables that were set, by name.
	OTEL map[string]string
}

// LoadConfig reads the configuration from getenv and secrets. secrets may be
// nil: secret files are then read from secret_mount_path. Every invalid
// setting is reported (joined), each naming the setting.
func LoadConfig(getenv func(string) string, secrets SecretReader) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var c Config
	env, errs := c.applyEnv(getenv)
	if secrets == nil {
		secrets = FileSecrets{Dir: c.SecretMountPath}
	}
	errs = append(errs, c.applySecrets(secrets, env)...)
	c.fillDerived()
	errs = append(errs, c.check()...)
	c.warn(getenv)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// applyEnv applies every env setting to c: its value (from its name or an
// alias, with a warning for an old name) or its default. It returns the
// values applied, by setting name, and one error per invalid value.
func (c *Config) applyEnv(getenv func(string) string) (map[string]string, []error) {
	var errs []error
	env := map[string]string{}
	for _, s := range settings {
		if s.Source != FromEnv {
			continue
		}
		v, used := lookupEnv(getenv, s)
		if v == "" {
			v = s.Default
		} else if used != s.Name && !slices.Contains(s.Fallbacks, used) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is set through its old name %s", s.Name, used))
		}
		env[s.Name] = v
		if err := s.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, used, err))
		}
	}
	return env, errs
}

// applySecrets applies every secret setting found in secrets to c, under
// the name its NameFrom env setting gives (env holds the env values
// applied). A missing secret is skipped; it returns one error per secret
// that cannot be read or is invalid.
func (c *Config) applySecrets(secrets SecretReader, env map[string]string) []error {
	var errs []error
	for _, s := range settings {
		if s.Source != FromSecret {
			continue
		}
		name := s.Name
		if s.NameFrom != "" && env[s.NameFrom] != "" {
			name = env[s.NameFrom]
		}
		v, err := secrets.ReadSecret(name)
		if errors.Is(err, ErrSecretNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: secret %s: %v", ErrInvalidConfig, name, err))
			continue
		}
		if err := s.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%w: secret %s: %v", ErrInvalidConfig, name, err))
		}
	}
	return errs
}

// fillDerived sets the values that default to other settings:
// healthcheck_interval to write_timeout, and s3_tls on for an https s3_url.
func (c *Config) fillDerived() {
	if !c.healthcheckSet {
		c.HealthcheckInterval = c.WriteTimeout
	}
	if u := c.S3.URL; strings.HasPrefix(u, "https://") {
		c.S3.TLS = true
	}
}

// check returns one error per combination of settings that cannot work
// (for example the etcd state store without an endpoint).
func (c *Config) check() []error {
	var errs []error
	if (c.Etcd.CertFile == "") != (c.Etcd.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%w: etcd_cert_file and etcd_key_file must be set together", ErrInvalidConfig))
	}
	if c.StateStore == StoreEtcd && len(c.Etcd.Endpoints) == 0 {
		errs = append(errs, fmt.Errorf("%w: etcd_endpoints: no endpoint", ErrInvalidConfig))
	}
	if (c.DataStore == StoreMinio || c.DataStore == StoreS3) && c.S3.Bucket == "" {
		errs = append(errs, fmt.Errorf("%w: s3_bucket: empty", ErrInvalidConfig))
	}
	if c.DataStore == StoreLocal && c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%w: data_dir: empty", ErrInvalidConfig))
	}
	return errs
}

// warn adds to c.Warnings the accepted but risky settings: ignored legacy
// settings, insecure mode and in-memory stores. Insecure mode is turned off
// when the HMAC secret is set after all.
func (c *Config) warn(getenv func(string) string) {
	for _, name := range ignoredLegacy {
		if getenv(name) != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is ignored: faas-flow's Consul state store is not supported; use state_store=etcd (etcd_endpoints)", name))
		}
	}
	if c.InsecureHops {
		if len(c.HMACSecret) > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is ignored: the secret faasflow-hmac-secret is set, hops are signed", c.InsecureReason))
			c.InsecureHops, c.InsecureReason = false, ""
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("INSECURE: %s: hops are neither signed nor verified; anyone who can reach this function can inject or alter hops. Create the secret faasflow-hmac-secret for any real deployment.", c.InsecureReason))
		}
	}
	if c.StateStore == StoreMemory {
		c.Warnings = append(c.Warnings, "state_store=memory: request state lives in this process only; run exactly one replica and expect to lose requests on restart")
	}
	if c.DataStore == StoreMemory {
		c.Warnings = append(c.Warnings, "data_store=memory: intermediate data lives in this process only; run exactly one replica")
	}
}

// ignoredLegacy are faas-flow settings with no equivalent; setting one
// produces a warning.
var ignoredLegacy = []string{"consul_url", "consul_dc"}

// lookupEnv returns the value of s (or of its first set alias) and the name
// it was read from.
func lookupEnv(getenv func(string) string, s Setting) (string, string) {
	if v := strings.TrimSpace(getenv(s.Name)); v != "" {
		return v, s.Name
	}
	for _, a := range s.Aliases {
		if v := strings.TrimSpace(getenv(a)); v != "" {
			return v, a
		}
	}
	return "", s.Name
}

// normalizeURL accepts host:port or a URL and returns scheme://host[:port][/path]
// without a trailing slash.
func normalizeURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("empty")
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: want host:port or http(s)://host:port[/path]", v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// parseBool reads true or false (as strconv.ParseBool does).
func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%q: want true or false", v)
	}
	return b, nil
}

// parseDuration reads whole seconds ("30") or a Go duration ("30s", "1m").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 1<<31 {
			return 0, fmt.Errorf("%q: out of range", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q: want seconds or a Go duration such as 30s", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative", v)
	}
	return d, nil
}

// parsePositiveDuration is parseDuration that also refuses zero.
func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err == nil && d == 0 {
		err = fmt.Errorf("%q: must be more than zero", v)
	}
	return d, err
}

// parseSize reads a byte count: a number, optionally followed by KiB, MiB,
// GiB (or K, M, G), or KB, MB, GB (powers of 1000).
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<42)/mult {
		return 0, fmt.Errorf("%q: want a positive size such as 1048576 or 16MiB", v)
	}
	return n * mult, nil
}

// splitList splits a comma-separated list, dropping blanks and empty items.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
