package tracing

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Protocols of the OTLP exporter.
const (
	ProtocolHTTP = "http/protobuf" // OTLP/HTTP, port 4318, path /v1/traces
	ProtocolGRPC = "grpc"          // OTLP/gRPC, port 4317
)

// ErrConfig reports an invalid tracing configuration.
var ErrConfig = errors.New("tracing: invalid configuration")

// Config configures Tracing. The zero value is "tracing off".
type Config struct {
	// Enabled turns tracing on. When false, New returns a Tracing whose
	// Observer is nil and that exports nothing.
	Enabled bool
	// ServiceName is the service.name of every span: the flow name (or
	// OTEL_SERVICE_NAME). Required when Enabled and no TracerProvider is
	// given.
	ServiceName string
	// Endpoint is the OTLP traces URL, e.g. http://jaeger:4318/v1/traces
	// (OTLP/HTTP; an empty path means /v1/traces) or http://jaeger:4317
	// (gRPC). https:// turns TLS on. Default: the OTLP default on localhost.
	Endpoint string
	// Protocol is ProtocolHTTP (default) or ProtocolGRPC.
	Protocol string
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string
	// Sampler decides, when a request starts, whether its trace is
	// recorded. Every later span of the request follows that decision (a
	// request is traced all-or-nothing), as does a request started by a
	// caller that sent a sampled or unsampled trace context. Default:
	// sample every request.
	Sampler sdktrace.Sampler
	// BatchTimeout is the longest time a finished span waits before it is
	// exported. Default 1s.
	BatchTimeout time.Duration
	// Exporter replaces the OTLP exporter (tests, benchmarks, other
	// backends). Spans are batched unless SyncExport is set.
	Exporter sdktrace.SpanExporter
	// SyncExport exports every span as it ends instead of batching (tests).
	SyncExport bool
	// TracerProvider, when set, is used instead of building one: Endpoint,
	// Protocol, Headers, BatchTimeout, Exporter and ServiceName are then
	// ignored and Shutdown does not shut it down. For the request span to be
	// the parent of the node spans it must be an sdktrace.TracerProvider
	// built with sdktrace.WithIDGenerator(tracing.IDGenerator()) (and
	// preferably sdktrace.WithSampler(tracing.Sampler(base))); otherwise the
	// request span gets ids of its own and only links to the intended ones.
	TracerProvider trace.TracerProvider
}

// Environment variable names read by ConfigFromEnv.
const (
	EnvEnableTracing   = "enable_tracing" // faas-flow: "true" turns tracing on
	EnvTraceServer     = "trace_server"   // faas-flow: Jaeger agent host:port
	EnvOTLPEndpoint    = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTLPTraces      = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvOTLPProtocol    = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvOTLPTracesProto = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvOTLPHeaders     = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvOTLPTracesHdrs  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvServiceName     = "OTEL_SERVICE_NAME"
	EnvSampler         = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg      = "OTEL_TRACES_SAMPLER_ARG"
	EnvSDKDisabled     = "OTEL_SDK_DISABLED"
	EnvTracesExporter  = "OTEL_TRACES_EXPORTER"
)

// jaegerAgentPorts are the ports of the retired Jaeger agent and collector
// protocols that faas-flow's trace_server used to name. Jaeger v2 takes OTLP
// instead, so trace_server host:<one of these> maps to host:4318.
var jaegerAgentPorts = map[string]bool{"5775": true, "6831": true, "6832": true, "5778": true, "14250": true, "14267": true, "14268": true}

// ConfigFromEnv reads the configuration from environment variables through
// getenv (os.Getenv in production):
//
//   - enable_tracing=true|false (faas-flow's name) turns tracing on or off.
//     When unset, tracing is on if an OTLP endpoint variable or trace_server
//     is set. OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the traces URL;
//     else OTEL_EXPORTER_OTLP_ENDPOINT is the base URL (/v1/traces is
//     appended for OTLP/HTTP); else trace_server (faas-flow's Jaeger agent
//     address) is mapped to OTLP: "host" or "host:<agent port 5775, 6831,
//     6832, 5778, 14250, 14267, 14268>" becomes http://host:4318/v1/traces,
//     "host:4317" becomes OTLP/gRPC at host:4317, any other "host:port" is
//     OTLP/HTTP on that port, and a URL is used as the OTLP base URL.
//     Default http://localhost:4318/v1/traces (gRPC: http://localhost:4317).
//   - OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: http/protobuf (default) or grpc.
//   - OTEL_EXPORTER_OTLP_[TRACES_]HEADERS: k=v,k2=v2 (values URL-decoded).
//   - OTEL_SERVICE_NAME: service name (else the caller sets the flow name).
//   - OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG: always_on, always_off,
//     traceidratio, parentbased_always_on, parentbased_always_off,
//     parentbased_traceidratio (arg: ratio in [0,1], default 1). Every
//     sampler is applied parent-based so a request is traced all or
//     nothing.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }

	traces, base, server := get(EnvOTLPTraces), get(EnvOTLPEndpoint), get(EnvTraceServer)
	switch v := strings.ToLower(get(EnvEnableTracing)); v {
	case "":
		c.Enabled = traces != "" || base != "" || server != ""
	default:
		on, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%w: %s=%q: use true or false", ErrConfig, EnvEnableTracing, v)
		}
		c.Enabled = on
	}
	if on, _ := strconv.ParseBool(get(EnvSDKDisabled)); on {
		c.Enabled = false
	}
	if strings.EqualFold(get(EnvTracesExporter), "none") {
		c.Enabled = false
	}

	c.Protocol = ProtocolHTTP
	proto := get(EnvOTLPTracesProto)
	if proto == "" {
		proto = get(EnvOTLPProtocol)
	}
	switch proto {
	case "", ProtocolHTTP:
	case ProtocolGRPC:
		c.Protocol = ProtocolGRPC
	default:
		return c, fmt.Errorf("%w: OTLP protocol %q: use %s or %s", ErrConfig, proto, ProtocolHTTP, ProtocolGRPC)
	}

	switch {
	case traces != "":
		c.Endpoint = traces
	case base != "":
		c.Endpoint = baseToTraces(base, c.Protocol)
	case server != "":
		ep, proto, err := traceServerEndpoint(server, c.Protocol)
		if err != nil {
			return c, err
		}
		c.Endpoint, c.Protocol = ep, proto
	}
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			return c, err
		}
	}

	hdrs := get(EnvOTLPTracesHdrs)
	if hdrs == "" {
		hdrs = get(EnvOTLPHeaders)
	}
	if hdrs != "" {
		h, err := parseHeaders(hdrs)
		if err != nil {
			return c, err
		}
		c.Headers = h
	}

	c.ServiceName = get(EnvServiceName)

	s, err := samplerFromEnv(get(EnvSampler), get(EnvSamplerArg))
	if err != nil {
		return c, err
	}
	c.Sampler = s
	return c, nil
}

// baseToTraces turns an OTEL_EXPORTER_OTLP_ENDPOINT base URL into the traces
// URL: OTLP/HTTP appends v1/traces to the base path, gRPC uses it as is.
func baseToTraces(base, protocol string) string {
	if protocol == ProtocolGRPC {
		return base
	}
	return strings.TrimRight(base, "/") + "/v1/traces"
}

// traceServerEndpoint maps faas-flow's trace_server value to an OTLP URL and
// protocol (see ConfigFromEnv).
func traceServerEndpoint(v, protocol string) (string, string, error) {
	if strings.Contains(v, "://") {
		return baseToTraces(v, protocol), protocol, nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		// No port: a bare host name or address.
		host, port = strings.Trim(v, "[]"), ""
	}
	if host == "" {
		return "", "", fmt.Errorf("%w: %s=%q has no host", ErrConfig, EnvTraceServer, v)
	}
	if port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("%w: %s=%q: bad port", ErrConfig, EnvTraceServer, v)
		}
	}
	switch {
	case port == "4317":
		protocol = ProtocolGRPC
	case port == "4318":
		protocol = ProtocolHTTP
	case port == "" || jaegerAgentPorts[port]:
		port = "4318"
		if protocol == ProtocolGRPC {
			port = "4317"
		}
	}
	hp := net.JoinHostPort(host, port)
	if protocol == ProtocolGRPC {
		return "http://" + hp, protocol, nil
	}
	return "http://" + hp + "/v1/traces", protocol, nil
}

func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("%w: endpoint %q: %v", ErrConfig, ep, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: endpoint %q: want http://host:port[/path] or https://…", ErrConfig, ep)
	}
	return nil
}

func parseHeaders(s string) (map[string]string, error) {
	h := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: OTLP header %q: want key=value", ErrConfig, part)
		}
		dv, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%w: OTLP header %q: %v", ErrConfig, k, err)
		}
		h[k] = dv
	}
	return h, nil
}

func samplerFromEnv(name, arg string) (sdktrace.Sampler, error) {
	ratio := 1.0
	if arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("%w: %s=%q: want a ratio between 0 and 1", ErrConfig, EnvSamplerArg, arg)
		}
		ratio = r
	}
	switch strings.ToLower(name) {
	case "", "always_on", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_off", "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("%w: %s=%q: use always_on, always_off, traceidratio or their parentbased_ forms", ErrConfig, EnvSampler, name)
}
