package tracing

import (
	"errors"
	"reflect"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnvMapsFaasFlowAndOTelVariables(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantEnabled  bool
		wantEndpoint string
		wantProtocol string
		wantService  string
		wantHeaders  map[string]string
	}{
		{name: "nothing set is off", env: nil, wantEnabled: false, wantProtocol: ProtocolHTTP},
		{name: "enable_tracing alone uses the OTLP default", env: map[string]string{"enable_tracing": "true"},
			wantEnabled: true, wantProtocol: ProtocolHTTP},
		{name: "faas-flow agent address maps to OTLP/HTTP 4318",
			env:         map[string]string{"enable_tracing": "true", "trace_server": "jaeger-agent.faasflow:5775"},
			wantEnabled: true, wantEndpoint: "http://jaeger-agent.faasflow:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "agent port 6831 maps to 4318", env: map[string]string{"enable_tracing": "1", "trace_server": "jaeger:6831"},
			wantEnabled: true, wantEndpoint: "http://jaeger:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "bare host", env: map[string]string{"enable_tracing": "true", "trace_server": "jaeger"},
			wantEnabled: true, wantEndpoint: "http://jaeger:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "host:4317 is OTLP/gRPC", env: map[string]string{"enable_tracing": "true", "trace_server": "jaeger:4317"},
			wantEnabled: true, wantEndpoint: "http://jaeger:4317", wantProtocol: ProtocolGRPC},
		{name: "agent port with gRPC protocol maps to 4317",
			env:         map[string]string{"enable_tracing": "true", "trace_server": "jaeger:5775", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantEnabled: true, wantEndpoint: "http://jaeger:4317", wantProtocol: ProtocolGRPC},
		{name: "other port is OTLP/HTTP on it", env: map[string]string{"enable_tracing": "true", "trace_server": "10.0.0.7:9999"},
			wantEnabled: true, wantEndpoint: "http://10.0.0.7:9999/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "trace_server URL is a base URL", env: map[string]string{"enable_tracing": "true", "trace_server": "https://otel.example:443"},
			wantEnabled: true, wantEndpoint: "https://otel.example:443/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "trace_server alone turns tracing on", env: map[string]string{"trace_server": "jaeger:5775"},
			wantEnabled: true, wantEndpoint: "http://jaeger:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "enable_tracing=false wins", env: map[string]string{"enable_tracing": "false", "trace_server": "jaeger:5775"},
			wantEnabled: false, wantEndpoint: "http://jaeger:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "OTLP base endpoint gets /v1/traces", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			wantEnabled: true, wantEndpoint: "http://collector:4318/v1/traces", wantProtocol: ProtocolHTTP},
		{name: "traces endpoint is used as is and beats the others",
			env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1",
				"trace_server": "y:5775"},
			wantEnabled: true, wantEndpoint: "http://c:4318/custom", wantProtocol: ProtocolHTTP},
		{name: "gRPC base endpoint is used as is",
			env:         map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			wantEnabled: true, wantEndpoint: "http://c:4317", wantProtocol: ProtocolGRPC},
		{name: "OTEL_SDK_DISABLED turns it off", env: map[string]string{"enable_tracing": "true", "OTEL_SDK_DISABLED": "true"},
			wantEnabled: false, wantProtocol: ProtocolHTTP},
		{name: "OTEL_TRACES_EXPORTER=none turns it off", env: map[string]string{"enable_tracing": "true", "OTEL_TRACES_EXPORTER": "none"},
			wantEnabled: false, wantProtocol: ProtocolHTTP},
		{name: "service name and headers",
			env: map[string]string{"enable_tracing": "true", "OTEL_SERVICE_NAME": "greet",
				"OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b, x=1"},
			wantEnabled: true, wantProtocol: ProtocolHTTP, wantService: "greet", wantHeaders: map[string]string{"api-key": "a b", "x": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Enabled != tt.wantEnabled || c.Endpoint != tt.wantEndpoint || c.Protocol != tt.wantProtocol || c.ServiceName != tt.wantService {
				t.Fatalf("got enabled=%v endpoint=%q protocol=%q service=%q", c.Enabled, c.Endpoint, c.Protocol, c.ServiceName)
			}
			if tt.wantHeaders != nil && !reflect.DeepEqual(c.Headers, tt.wantHeaders) {
				t.Fatalf("headers %v", c.Headers)
			}
		})
	}
}

func TestConfigFromEnvRejectsBadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "enable_tracing not a bool", env: map[string]string{"enable_tracing": "yes please"}},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}},
		{name: "bad sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}},
		{name: "ratio above 1", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}},
		{name: "ratio not a number", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}},
		{name: "trace_server bad port", env: map[string]string{"trace_server": "jaeger:http"}},
		{name: "header without value", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ConfigFromEnv(envOf(tt.env)); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestSamplerFromEnvDecidesPerRequest(t *testing.T) {
	tests := []struct {
		sampler, arg string
		want         float64 // fraction of 2000 random trace ids sampled
		tolerance    float64
	}{
		{"", "", 1, 0},
		{"always_on", "", 1, 0},
		{"always_off", "", 0, 0},
		{"parentbased_always_off", "", 0, 0},
		{"traceidratio", "0.25", 0.25, 0.05},
		{"parentbased_traceidratio", "0.5", 0.5, 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.sampler+"/"+tt.arg, func(t *testing.T) {
			c, err := ConfigFromEnv(envOf(map[string]string{"enable_tracing": "true", EnvSampler: tt.sampler, EnvSamplerArg: tt.arg}))
			if err != nil {
				t.Fatal(err)
			}
			s := Sampler(c.Sampler)
			n := 0
			for range 2000 {
				r := s.ShouldSample(sdktrace.SamplingParameters{ParentContext: t.Context(), TraceID: randomTraceID()})
				if r.Decision == sdktrace.RecordAndSample {
					n++
				}
			}
			got := float64(n) / 2000
			if got < tt.want-tt.tolerance || got > tt.want+tt.tolerance {
				t.Fatalf("sampled %.3f, want %.2f±%.2f", got, tt.want, tt.tolerance)
			}
		})
	}
}

func TestSamplerFollowsTheParentAndThePresetDecision(t *testing.T) {
	s := Sampler(sdktrace.NeverSample())
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(t.Context(), parent)
	if r := s.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: parent.TraceID()}); r.Decision != sdktrace.RecordAndSample {
		t.Fatal("sampled parent not followed")
	}
	p := withPreset(t.Context(), &preset{traceID: trace.TraceID{9}, spanID: trace.SpanID{9}, sampled: true})
	if r := s.ShouldSample(sdktrace.SamplingParameters{ParentContext: p, TraceID: trace.TraceID{9}}); r.Decision != sdktrace.RecordAndSample {
		t.Fatal("preset decision not followed")
	}
	s = Sampler(sdktrace.AlwaysSample())
	p = withPreset(t.Context(), &preset{traceID: trace.TraceID{9}, spanID: trace.SpanID{9}, sampled: false})
	if r := s.ShouldSample(sdktrace.SamplingParameters{ParentContext: p, TraceID: trace.TraceID{9}}); r.Decision != sdktrace.Drop {
		t.Fatal("preset unsampled decision not followed")
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", false, ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, ""},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false, ""},
	}
	for _, tt := range tests {
		sc, ok := parseTraceparent(tt.in)
		if ok != tt.ok {
			t.Errorf("parse(%q) ok=%v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && formatTraceparent(sc) != tt.want {
			t.Errorf("format(parse(%q)) = %q, want %q", tt.in, formatTraceparent(sc), tt.want)
		}
	}
}

// FuzzParseTraceparent: the root context comes from hop envelopes (network
// input, though signed): parsing never panics, and whatever parses formats
// back to a value that parses to the same span context.
func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-x")
	f.Add("00-0-0-0")
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := parseTraceparent(s)
		if !ok {
			return
		}
		if !sc.IsValid() || !sc.IsRemote() {
			t.Fatalf("parse(%q) gave an invalid or local span context", s)
		}
		again, ok := parseTraceparent(formatTraceparent(sc))
		if !ok || !again.Equal(sc) {
			t.Fatalf("round trip of %q changed it: %v vs %v", s, sc, again)
		}
	})
}
