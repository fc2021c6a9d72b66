package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/faas-flow/faas-flow/transport/callbackguard"
)

// Source tells where a setting is read from.
type Source int

// Setting sources.
const (
	FromEnv    Source = iota // an environment variable
	FromSecret               // a file in the secret mount path
)

// String returns "env" or "secret".
func (s Source) String() string {
	if s == FromSecret {
		return "secret"
	}
	return "env"
}

// Setting describes one configuration value. The table returned by Settings
// is the single description of the configuration: LoadConfig reads it and
// docs/configuration.md is generated from it.
type Setting struct {
	// Name is the environment variable or secret name.
	Name string
	// Aliases are other names read, in order, when Name is unset. Reading
	// one warns unless it is listed in Fallbacks too.
	Aliases []string
	// Fallbacks are aliases that are not deprecated: names a platform sets
	// (OPENFAAS_NAME), read silently.
	Fallbacks []string
	// Source is FromEnv or FromSecret.
	Source Source
	// NameFrom, for a secret, names the env setting that may rename it.
	NameFrom string
	// Default is used when the setting is unset ("" = none).
	Default string
	// Group and Doc document the setting.
	Group string
	Doc   string

	apply func(c *Config, v string) error
}

// Settings returns the configuration table, in documentation order.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// Groups of the settings, in documentation order.
const (
	groupFlow    = "Flow and gateway"
	groupSec     = "Security"
	groupHTTP    = "HTTP server"
	groupEngine  = "Engine"
	groupState   = "State store"
	groupData    = "Data store"
	groupTracing = "Tracing"
	groupEvents  = "Completion events"
)

// settings is the configuration table: every environment variable and
// secret LoadConfig reads, with its default, its documentation and how its
// value is parsed into a Config (apply). Env settings are applied in this
// order, then secrets.
var settings = []Setting{
	{Name: "flow_name", Aliases: []string{"OPENFAAS_NAME", "workflow_name"}, Fallbacks: []string{"OPENFAAS_NAME"}, Group: groupFlow,
		Doc: "Name of the flow: the function name the gateway routes to, used in hop URLs and store keys. Never taken from the Host header. Required for flows of more than one node.",
		apply: func(c *Config, v string) error {
			if v != "" && (strings.ContainsAny(v, "/?#% \t\n") || len(v) > 253) {
				return fmt.Errorf("%q is not a function name", v)
			}
			c.Flow = v
			return nil
		}},
	{Name: "gateway", Default: "gateway.openfaas:8080", Group: groupFlow,
		Doc:   "OpenFaaS gateway, as host:port or URL. Hops are posted to <gateway>/async-function/<flow>/flow/<id>/forward and Apply calls go to <gateway>/function/<name>.",
		apply: func(c *Config, v string) (err error) { c.Gateway, err = normalizeURL(v); return err }},
	{Name: "hop_transport", Default: HopsViaGateway, Group: groupFlow,
		Doc: "How hops reach the flow's next invocation. gateway: POST to the gateway's /async-function/ endpoint (any OpenFaaS). nats: publish straight to the faasflow local gateway's JetStream queue at nats_url, one HTTP round trip less per hop; `faasflow up` sets this for the flows it runs.",
		apply: func(c *Config, v string) error {
			switch v {
			case HopsViaGateway, HopsViaNATS:
				c.HopTransport = v
				return nil
			}
			return fmt.Errorf("%q: want %s or %s", v, HopsViaGateway, HopsViaNATS)
		}},
	{Name: "nats_url", Default: "nats://127.0.0.1:4222", Group: groupFlow,
		Doc: "NATS server (JetStream) of the faasflow local gateway's queue, used when hop_transport=nats. Comma-separated URLs for a cluster.",
		apply: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("empty")
			}
			c.NATSURL = v
			return nil
		}},
	{Name: "listen_addr", Default: ":8082", Group: groupFlow,
		Doc:   "Address the flow's HTTP server listens on (the of-watchdog's upstream_url points here).",
		apply: func(c *Config, v string) error { c.ListenAddr = v; return nil }},
	{Name: "secret_mount_path", Default: "/var/openfaas/secrets/", Group: groupFlow,
		Doc:   "Folder holding OpenFaaS secrets, one file per secret.",
		apply: func(c *Config, v string) error { c.SecretMountPath = v; return nil }},

	{Name: "faasflow_insecure_hops", Default: "false", Group: groupSec,
		Doc: "Run without faasflow-hmac-secret: hops are not signed and not verified. Anyone who can reach the function can then inject hops. Local experiments only.",
		apply: func(c *Config, v string) error {
			b, err := parseBool(v)
			if b {
				c.InsecureHops, c.InsecureReason = true, "faasflow_insecure_hops=true"
			}
			return err
		}},
	{Name: "validate_request", Aliases: []string{"enable_hmac"}, Default: "true", Group: groupSec,
		Doc: "faas-flow's switch for hop signing. false means the same as faasflow_insecure_hops=true (with a warning).",
		apply: func(c *Config, v string) error {
			b, err := parseBool(v)
			if err == nil && !b && !c.InsecureHops {
				c.InsecureHops, c.InsecureReason = true, "validate_request=false"
			}
			return err
		}},
	{Name: "authenticate_request", Aliases: []string{"verify_request"}, Default: "false", Group: groupSec,
		Doc:   "Require new requests to carry X-Hub-Signature: sha1=<hex> or sha256=<hex>, the HMAC of the body with faasflow-hmac-secret (faas-flow's caller authentication).",
		apply: func(c *Config, v string) (err error) { c.AuthenticateRequest, err = parseBool(v); return err }},
	{Name: "control_auth", Default: ControlAuthBasic, Group: groupSec,
		Doc: "basic: the routes that read or change requests (GET /flow/requests, /flow/<id>/state and /result, POST /flow/<id>/pause, resume, stop and redrive, and the query forms ?state=, ?pause-flow=...) want HTTP basic auth with the secrets basic-auth-user and basic-auth-password, OpenFaaS's names for its gateway's login; without those secrets they answer 401 to every call. none: they are open to whoever reaches the function. Starting a request, hops (signed), ?dag, health and metrics are never behind it. `faasflow up` gives its flows its own login, or none with --no-auth.",
		apply: func(c *Config, v string) error {
			switch v {
			case ControlAuthBasic, ControlAuthNone:
				c.ControlAuth = v
				return nil
			}
			return fmt.Errorf("%q: want %s or %s", v, ControlAuthBasic, ControlAuthNone)
		}},

	{Name: "read_timeout", Default: "30s", Group: groupHTTP,
		Doc:   "Time allowed to read a request (seconds or Go duration).",
		apply: func(c *Config, v string) (err error) { c.ReadTimeout, err = parsePositiveDuration(v); return err }},
	{Name: "write_timeout", Default: "60s", Group: groupHTTP,
		Doc:   "Time allowed to answer a request. It is also the budget of one invocation: the node a hop runs must finish within it (keep the watchdog's exec_timeout at least as long).",
		apply: func(c *Config, v string) (err error) { c.WriteTimeout, err = parsePositiveDuration(v); return err }},
	{Name: "healthcheck_interval", Group: groupHTTP,
		Doc: "Grace period after SIGTERM during which health checks fail but requests are still served (default: write_timeout).",
		apply: func(c *Config, v string) (err error) {
			if v == "" {
				return nil
			}
			c.healthcheckSet = true
			c.HealthcheckInterval, err = parseDuration(v)
			return err
		}},
	{Name: "overrun_exit_grace", Default: "10s", Group: groupHTTP,
		Doc:   "How long the code of a node (a modifier or custom operation) that ignored its node's or operation's timeout may go on running once the node failed for it: a goroutine cannot be stopped, so past this grace the process stops taking work, drains its other requests (health checks fail for at most this long, then the requests in flight finish, within write_timeout) and exits with an error, for its supervisor (`faasflow up`, Kubernetes) to restart it. Code that returns within the grace changes nothing. 0 keeps the process running however long the code runs.",
		apply: func(c *Config, v string) (err error) { c.OverrunGrace, err = parseDuration(v); return err }},
	{Name: "max_body_size", Default: "16MiB", Group: groupHTTP,
		Doc:   "Largest request body accepted (bytes, or with KiB/MiB/GiB); larger bodies get 413.",
		apply: func(c *Config, v string) (err error) { c.MaxBodySize, err = parseSize(v); return err }},
	{Name: "max_running_requests", Default: "0", Group: groupHTTP,
		Doc: "Largest number of the flow's requests running at once: started and not yet ended (paused ones count), or, for a flow of one node, being answered. A new request past it is answered 429 with Retry-After, before its body is read; hops and controls of requests already running are never refused. Requests starting at the same moment on several instances may pass it by a few. 0 leaves it unbounded.",
		apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("want a whole number, 0 or more: %q", v)
			}
			c.MaxRunningRequests = n
			return nil
		}},
	{Name: "max_response_size", Default: "64MiB", Group: groupHTTP,
		Doc:   "Largest response read from a function or URL called by an operation.",
		apply: func(c *Config, v string) (err error) { c.MaxResponseSize, err = parseSize(v); return err }},

	{Name: "inline_data_limit", Default: "64KiB", Group: groupEngine,
		Doc: "Largest node input carried inside a hop; larger inputs go to the data store. Keep it well under the queue's message limit.",
		apply: func(c *Config, v string) error {
			n, err := parseSize(v)
			if err == nil && n > 1<<30 {
				err = errors.New("must be at most 1GiB")
			}
			c.InlineDataLimit = int(n)
			return err
		}},
	{Name: "request_retention", Default: "1h", Group: groupEngine,
		Doc:   "How long the record and result of an ended request are kept for /flow/<id>/state and /result. 0 keeps nothing.",
		apply: func(c *Config, v string) (err error) { c.RequestRetention, err = parseDuration(v); return err }},
	{Name: "request_ttl", Default: "24h", Group: groupEngine,
		Doc:   "Longest life of a request's state: keys of a request abandoned by a crash expire after it.",
		apply: func(c *Config, v string) (err error) { c.RequestTTL, err = parsePositiveDuration(v); return err }},
	{Name: "hop_max_age", Default: "24h", Group: groupEngine,
		Doc:   "Hops signed longer ago are rejected (bounds replays of captured hops).",
		apply: func(c *Config, v string) (err error) { c.HopMaxAge, err = parsePositiveDuration(v); return err }},
	{Name: "node_lease", Default: "15s", Group: groupEngine,
		Doc:   "How long a delivery holds its node without renewing the lease; a heartbeat renews it every third of this while the node runs, however long it takes. A process that dies loses its nodes this long after its last renewal, and the reconciler sends their hops again.",
		apply: func(c *Config, v string) (err error) { c.NodeLease, err = parsePositiveDuration(v); return err }},
	{Name: "redrive_retention", Default: "24h", Group: groupEngine,
		Doc:   "How long a failed or stopped request keeps what a redrive needs (its record, its nodes' records and hops, the outputs of the nodes that succeeded): POST /flow/<id>/redrive works that long after it ended, and never later than request_ttl after it started, when its oldest data expire. At most request_ttl; 0 keeps nothing past request_retention, and turns redrive off. The cost is the request's working state, kept that long: in etcd about 400 bytes per node record and per branch or join marker, plus data up to inline_data_limit inline; in the data store its larger data (docs/recovery.md).",
		apply: func(c *Config, v string) (err error) { c.RedriveRetention, err = parseDuration(v); return err }},
	{Name: "stall_after", Default: "30s", Group: groupEngine,
		Doc:   "How long a node's hop may wait unclaimed (lost or given up by the queue) before the reconciler sends it again; each later resend waits twice as long, up to 32 times this.",
		apply: func(c *Config, v string) (err error) { c.StallAfter, err = parsePositiveDuration(v); return err }},
	{Name: "reconcile_interval", Default: "5s", Group: groupEngine,
		Doc:   "Time between two passes of the reconciler, which one replica of the flow runs at a time (elected through etcd). Recovery after a crash takes at most node_lease plus this; after a lost hop, stall_after plus this.",
		apply: func(c *Config, v string) (err error) { c.ReconcileInterval, err = parsePositiveDuration(v); return err }},
	{Name: "default-method", Default: "POST", Group: groupEngine,
		Doc: "HTTP method of Apply and Request operations without a \"method\" header option.",
		apply: func(c *Config, v string) error {
			m := strings.ToUpper(strings.TrimSpace(v))
			if m == "" || strings.ContainsAny(m, " \t/") {
				return fmt.Errorf("%q is not an HTTP method", v)
			}
			c.DefaultMethod = m
			return nil
		}},
	{Name: "forward_timeout", Default: "15s", Group: groupEngine,
		Doc:   "Time allowed to hand one hop to the gateway, retries (with backoff, on connection errors and 5xx) included.",
		apply: func(c *Config, v string) (err error) { c.ForwardTimeout, err = parsePositiveDuration(v); return err }},
	{Name: "callback_attempts", Default: "5", Group: groupEngine,
		Doc: "Attempts to deliver a completion callback (X-Faas-Flow-Callback-Url), with backoff, in the background.",
		apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("%q: want a number from 1 to 100", v)
			}
			c.CallbackAttempts = n
			return nil
		}},
	{Name: "callback_timeout", Default: "10s", Group: groupEngine,
		Doc:   "Timeout of one completion callback attempt.",
		apply: func(c *Config, v string) (err error) { c.CallbackTimeout, err = parsePositiveDuration(v); return err }},
	{Name: "callback_allow", Group: groupEngine,
		Doc: "Comma-separated completion callback destinations allowed although they are the flow's own etcd (etcd_endpoints) or NATS (nats_url, with hop_transport=nats): IPs, CIDRs or host names, each optionally with :port. Other callbacks there are refused and logged, since the callback URL comes from the caller; an etcd or NATS on a loopback address protects its port on every local address. `faasflow up --callback-allow` sets it.",
		apply: func(c *Config, v string) error {
			c.CallbackAllow = splitList(v)
			_, err := callbackguard.New(callbackguard.Options{Protected: []string{"127.0.0.1:1"}, Allow: c.CallbackAllow})
			return err
		}},
	{Name: "debug_pprof", Default: "false", Group: groupEngine,
		Doc:   "Serve Go's profiler (net/http/pprof) under /debug/pprof/ on the function's port. For diagnosing a flow's CPU or memory use; do not expose it publicly.",
		apply: func(c *Config, v string) (err error) { c.DebugPprof, err = parseBool(v); return err }},
	{Name: "gc_heap_floor", Default: "0", Group: groupEngine,
		Doc: "While the function's live heap is small, let it grow to this size between garbage collections (bytes, or with KiB/MiB/GiB; 0 leaves Go's default). A throughput knob: 16MiB cut the CPU per fan-out branch by 8-15% in docs/benchmarks.md but added 0.4-0.7 ms to each chain hop. Unlike GOGC it returns to Go's default once the live heap is big. Ignored when GOGC or GOMEMLIMIT is set.",
		apply: func(c *Config, v string) (err error) {
			if strings.TrimSpace(v) == "0" {
				c.GCHeapFloor = 0
				return nil
			}
			c.GCHeapFloor, err = parseSize(v)
			return err
		}},
	{Name: "log_level", Default: "info", Group: groupEngine,
		Doc:   "debug, info, warn or error.",
		apply: func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},

	{Name: "events_nats_url", Group: groupEvents,
		Doc:   "NATS server (JetStream) every request's end is published to as a completion event, on <events_subject_prefix>.<flow>.request.<state> (docs/events.md); empty publishes none. It logs in with the secrets nats-username and nats-password. `faasflow up` sets it to its own NATS, whose stream FAASFLOW_EVENTS keeps the events.",
		apply: func(c *Config, v string) error { c.Events.NATSURL = strings.TrimSpace(v); return nil }},
	{Name: "events_subject_prefix", Default: DefaultEventSubjectPrefix, Group: groupEvents,
		Doc:   "First tokens of the subjects of completion events; a stream must hold <prefix>.> for them to be stored.",
		apply: applyEventPrefix},
	{Name: "events_url", Group: groupEvents,
		Doc: "HTTP(S) endpoint every completion event is POSTed to as signed JSON (docs/events.md); empty posts none. Retried like callbacks (callback_attempts, callback_timeout).",
		apply: func(c *Config, v string) (err error) {
			if v = strings.TrimSpace(v); v != "" {
				v, err = normalizeURL(v)
			}
			c.Events.URL = v
			return err
		}},
	{Name: "events_nodes", Default: "false", Group: groupEvents,
		Doc:   "Publish an event for the end of every node attempt too, on <prefix>.<flow>.node.<state>.",
		apply: func(c *Config, v string) (err error) { c.Events.Nodes, err = parseBool(v); return err }},

	{Name: "state_store", Default: StoreEtcd, Group: groupState,
		Doc: "etcd (production) or memory (one replica only: state is lost on restart and not shared). Flows of one node use no store. A handler's DefineStateStore/OverrideStateStore wins over this.",
		apply: func(c *Config, v string) error {
			switch v {
			case StoreEtcd, StoreMemory:
				c.StateStore = v
				return nil
			}
			return fmt.Errorf("%q: want etcd or memory", v)
		}},
	{Name: "etcd_endpoints", Default: "etcd.faasflow:2379", Group: groupState,
		Doc:   "Comma-separated etcd client URLs or host:port pairs.",
		apply: func(c *Config, v string) error { c.Etcd.Endpoints = splitList(v); return nil }},
	{Name: "etcd_dial_timeout", Default: "5s", Group: groupState,
		Doc:   "Time allowed to connect to etcd at start.",
		apply: func(c *Config, v string) (err error) { c.Etcd.DialTimeout, err = parsePositiveDuration(v); return err }},
	{Name: "etcd_request_timeout", Default: "5s", Group: groupState,
		Doc: "Timeout of one etcd operation, retries included.",
		apply: func(c *Config, v string) (err error) {
			c.Etcd.RequestTimeout, err = parsePositiveDuration(v)
			return err
		}},
	{Name: "etcd_serializable_reads", Default: "false", Group: groupState,
		Doc:   "Serve reads from the contacted etcd member without a raft round trip (faster). Only for a single-member etcd, such as the local gateway's embedded one, which sets it.",
		apply: func(c *Config, v string) (err error) { c.Etcd.SerializableReads, err = parseBool(v); return err }},
	{Name: "etcd_key_prefix", Default: "faasflow/", Group: groupState,
		Doc:   "Prefix of every key the flow writes in etcd.",
		apply: func(c *Config, v string) error { c.Etcd.KeyPrefix = v; return nil }},
	{Name: "etcd_ca_file", Group: groupState,
		Doc:   "PEM CA bundle for TLS to etcd (for example a secret: /var/openfaas/secrets/etcd-ca).",
		apply: func(c *Config, v string) error { c.Etcd.CAFile = v; return nil }},
	{Name: "etcd_cert_file", Group: groupState,
		Doc:   "PEM client certificate for etcd (with etcd_key_file).",
		apply: func(c *Config, v string) error { c.Etcd.CertFile = v; return nil }},
	{Name: "etcd_key_file", Group: groupState,
		Doc:   "PEM client key for etcd (with etcd_cert_file).",
		apply: func(c *Config, v string) error { c.Etcd.KeyFile = v; return nil }},
	{Name: "etcd_server_name", Group: groupState,
		Doc:   "Name expected in etcd's TLS certificate, when it differs from the endpoint host.",
		apply: func(c *Config, v string) error { c.Etcd.ServerName = v; return nil }},

	{Name: "data_store", Default: StoreMinio, Group: groupData,
		Doc: "minio or s3 (production), local (a folder, one host only) or memory (one replica only). A handler's DefineDataStore/OverrideDataStore wins over this.",
		apply: func(c *Config, v string) error {
			switch v {
			case StoreMinio, StoreS3, StoreLocal, StoreMemory:
				c.DataStore = v
				return nil
			}
			return fmt.Errorf("%q: want minio, s3, local or memory", v)
		}},
	{Name: "s3_url", Default: "minio.faasflow:9000", Group: groupData,
		Doc:   "S3 endpoint, as host:port or URL (an https URL turns s3_tls on).",
		apply: func(c *Config, v string) error { c.S3.URL = v; return nil }},
	{Name: "s3_region", Default: "us-east-1", Group: groupData,
		Doc:   "S3 region.",
		apply: func(c *Config, v string) error { c.S3.Region = v; return nil }},
	{Name: "s3_tls", Default: "false", Group: groupData,
		Doc:   "Use TLS to the S3 endpoint.",
		apply: func(c *Config, v string) (err error) { c.S3.TLS, err = parseBool(v); return err }},
	{Name: "s3_ca_file", Group: groupData,
		Doc:   "PEM file of the CA(s) that signed the S3 endpoint's certificate, for a private CA (default: the system roots). A certificate that is not trusted stops the start with an error naming it.",
		apply: func(c *Config, v string) error { c.S3.CAFile = v; return nil }},
	{Name: "s3_bucket", Default: "faasflow", Group: groupData,
		Doc:   "The one bucket intermediate data lives in (per-request prefixes; no bucket per request).",
		apply: func(c *Config, v string) error { c.S3.Bucket = v; return nil }},
	{Name: "s3_path_style", Default: "true", Group: groupData,
		Doc:   "Path-style bucket addressing (MinIO); false uses virtual-host style (AWS).",
		apply: func(c *Config, v string) (err error) { c.S3.PathStyle, err = parseBool(v); return err }},
	{Name: "s3_access_key_name", Default: "s3-access-key", Group: groupData,
		Doc:   "Name of the secret holding the S3 access key.",
		apply: func(*Config, string) error { return nil }},
	{Name: "s3_secret_key_name", Default: "s3-secret-key", Group: groupData,
		Doc:   "Name of the secret holding the S3 secret key.",
		apply: func(*Config, string) error { return nil }},
	{Name: "data_dir", Default: "/tmp/faasflow-data", Group: groupData,
		Doc:   "Folder of the local data store.",
		apply: func(c *Config, v string) error { c.DataDir = v; return nil }},

	{Name: "enable_tracing", Default: "false", Group: groupTracing,
		Doc:   "Export one OpenTelemetry trace per request (OTLP).",
		apply: func(c *Config, v string) (err error) { c.Tracing.Enabled, err = parseBool(v); return err }},
	{Name: "trace_server", Group: groupTracing,
		Doc:   "faas-flow's collector address (host:port); used as the OTLP endpoint when OTEL_EXPORTER_OTLP_ENDPOINT is unset.",
		apply: func(c *Config, v string) error { c.Tracing.TraceServer = v; return nil }},
	otel("OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP endpoint for all signals."),
	otel("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTLP endpoint for traces."),
	otel("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc or http/protobuf."),
	otel("OTEL_EXPORTER_OTLP_HEADERS", "Headers sent to the OTLP endpoint (k=v,...)."),
	otel("OTEL_SERVICE_NAME", "Service name of the spans (default: the flow name)."),
	otel("OTEL_TRACES_SAMPLER", "Sampler name (always_on, parentbased_traceidratio, ...)."),
	otel("OTEL_TRACES_SAMPLER_ARG", "Sampler argument."),

	{Name: "faasflow-hmac-secret", Source: FromSecret, Group: groupSec,
		Doc:   "HMAC-SHA256 key that signs every hop and completion callback. Required for flows of more than one node unless faasflow_insecure_hops=true. There is no built-in default.",
		apply: func(c *Config, v string) error { c.HMACSecret = []byte(v); return nil }},
	{Name: SecretBasicAuthUser, Source: FromSecret, Group: groupSec,
		Doc:   "User of the login the control and read routes want (control_auth=basic). OpenFaaS names its gateway's login so: the same secret works for both.",
		apply: func(c *Config, v string) error { c.ControlUser = v; return nil }},
	{Name: SecretBasicAuthPassword, Source: FromSecret, Group: groupSec,
		Doc:   "Password of that login.",
		apply: func(c *Config, v string) error { c.ControlPassword = v; return nil }},
	{Name: "etcd-username", Source: FromSecret, Group: groupState,
		Doc:   "etcd user (with etcd-password), when etcd auth is on.",
		apply: func(c *Config, v string) error { c.Etcd.Username = v; return nil }},
	{Name: "etcd-password", Source: FromSecret, Group: groupState,
		Doc:   "etcd password. `faasflow up` generates an etcd user for the flows it runs and gives them both secrets.",
		apply: func(c *Config, v string) error { c.Etcd.Password = v; return nil }},
	{Name: "nats-username", Source: FromSecret, Group: groupFlow,
		Doc:   "NATS user of hop_transport=nats (with nats-password; default faasflow when only the password is set).",
		apply: func(c *Config, v string) error { c.NATSUser = v; return nil }},
	{Name: "nats-password", Source: FromSecret, Group: groupFlow,
		Doc:   "NATS password of hop_transport=nats, when the server wants a login. `faasflow up` generates one for its embedded NATS and gives it, with nats-username, to the flows it runs.",
		apply: func(c *Config, v string) error { c.NATSPassword = v; return nil }},
	{Name: "s3-access-key", Source: FromSecret, NameFrom: "s3_access_key_name", Group: groupData,
		Doc:   "S3 access key (secret name set by s3_access_key_name).",
		apply: func(c *Config, v string) error { c.S3.AccessKey = v; return nil }},
	{Name: "s3-secret-key", Source: FromSecret, NameFrom: "s3_secret_key_name", Group: groupData,
		Doc:   "S3 secret key (secret name set by s3_secret_key_name).",
		apply: func(c *Config, v string) error { c.S3.SecretKey = v; return nil }},
}

// otel is the setting of OpenTelemetry variable name: a set value is kept,
// by name, in Config.Tracing.OTEL.
func otel(name, doc string) Setting {
	return Setting{Name: name, Group: groupTracing, Doc: doc, apply: func(c *Config, v string) error {
		if v != "" {
			if c.Tracing.OTEL == nil {
				c.Tracing.OTEL = map[string]string{}
			}
			c.Tracing.OTEL[name] = v
		}
		return nil
	}}
}
