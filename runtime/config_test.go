package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/runtime"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := runtime.LoadConfig(envOf(map[string]string{"flow_name": "greet"}), runtime.MapSecrets{"faasflow-hmac-secret": " key\n"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"flow", c.Flow, "greet"},
		{"gateway", c.Gateway, "http://gateway.openfaas:8080"},
		{"hops via the gateway", c.HopTransport, "gateway"},
		{"listen", c.ListenAddr, ":8082"},
		{"secret mount", c.SecretMountPath, "/var/openfaas/secrets/"},
		{"hmac (trimmed)", string(c.HMACSecret), "key"},
		{"insecure", c.InsecureHops, false},
		{"read", c.ReadTimeout, 30 * time.Second},
		{"write", c.WriteTimeout, 60 * time.Second},
		{"healthcheck = write", c.HealthcheckInterval, 60 * time.Second},
		{"body", c.MaxBodySize, int64(16 << 20)},
		{"inline", c.InlineDataLimit, 64 << 10},
		{"retention", c.RequestRetention, time.Hour},
		{"ttl", c.RequestTTL, 24 * time.Hour},
		{"hop age", c.HopMaxAge, 24 * time.Hour},
		{"method", c.DefaultMethod, "POST"},
		{"state store", c.StateStore, "etcd"},
		{"etcd", strings.Join(c.Etcd.Endpoints, ","), "etcd.faasflow:2379"},
		{"etcd prefix", c.Etcd.KeyPrefix, "faasflow/"},
		{"data store", c.DataStore, "minio"},
		{"s3 url", c.S3.URL, "minio.faasflow:9000"},
		{"bucket", c.S3.Bucket, "faasflow"},
		{"region", c.S3.Region, "us-east-1"},
		{"path style", c.S3.PathStyle, true},
		{"tracing", c.Tracing.Enabled, false},
		{"warnings", len(c.Warnings), 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadConfigFlowNameFallsBackThroughOldNames(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    string
		warning bool
	}{
		{"flow_name wins", map[string]string{"flow_name": "a", "OPENFAAS_NAME": "b", "workflow_name": "c"}, "a", false},
		{"OPENFAAS_NAME next, silently (the platform sets it)", map[string]string{"OPENFAAS_NAME": "b", "workflow_name": "c"}, "b", false},
		{"legacy workflow_name last", map[string]string{"workflow_name": "c"}, "c", true},
		{"unset stays empty (sync flows need none)", map[string]string{}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := runtime.LoadConfig(envOf(tc.env), runtime.MapSecrets{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Flow != tc.want {
				t.Fatalf("flow = %q, want %q", c.Flow, tc.want)
			}
			if got := len(c.Warnings) > 0; got != tc.warning {
				t.Fatalf("warnings = %v, want some: %v", c.Warnings, tc.warning)
			}
		})
	}
}

func TestLoadConfigParsesValues(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		check func(c runtime.Config) bool
	}{
		{"gateway with scheme and slash", map[string]string{"gateway": "https://gw.example.com:8443/"},
			func(c runtime.Config) bool { return c.Gateway == "https://gw.example.com:8443" }},
		{"gateway host:port", map[string]string{"gateway": "127.0.0.1:8080"},
			func(c runtime.Config) bool { return c.Gateway == "http://127.0.0.1:8080" }},
		{"timeouts as seconds", map[string]string{"read_timeout": "5", "write_timeout": "120"},
			func(c runtime.Config) bool { return c.ReadTimeout == 5*time.Second && c.WriteTimeout == 2*time.Minute }},
		{"timeouts as Go durations", map[string]string{"write_timeout": "1m30s"},
			func(c runtime.Config) bool { return c.WriteTimeout == 90*time.Second }},
		{"explicit zero healthcheck", map[string]string{"healthcheck_interval": "0"},
			func(c runtime.Config) bool { return c.HealthcheckInterval == 0 }},
		{"sizes with units", map[string]string{"max_body_size": "2MiB", "inline_data_limit": "1000"},
			func(c runtime.Config) bool { return c.MaxBodySize == 2<<20 && c.InlineDataLimit == 1000 }},
		{"gc heap floor off by default", map[string]string{},
			func(c runtime.Config) bool { return c.GCHeapFloor == 0 }},
		{"gc heap floor with a unit", map[string]string{"gc_heap_floor": "16MiB"},
			func(c runtime.Config) bool { return c.GCHeapFloor == 16<<20 }},
		{"retention zero keeps nothing", map[string]string{"request_retention": "0"},
			func(c runtime.Config) bool { return c.RequestRetention == 0 }},
		{"etcd endpoints list", map[string]string{"etcd_endpoints": " http://a:2379, http://b:2379 ,"},
			func(c runtime.Config) bool {
				return len(c.Etcd.Endpoints) == 2 && c.Etcd.Endpoints[1] == "http://b:2379"
			}},
		{"https s3 turns tls on", map[string]string{"s3_url": "https://s3.amazonaws.com"},
			func(c runtime.Config) bool { return c.S3.TLS }},
		{"method upper-cased", map[string]string{"default-method": "get"},
			func(c runtime.Config) bool { return c.DefaultMethod == "GET" }},
		{"tracing", map[string]string{"enable_tracing": "true", "trace_server": "jaeger:4318", "OTEL_SERVICE_NAME": "x"},
			func(c runtime.Config) bool {
				return c.Tracing.Enabled && c.Tracing.TraceServer == "jaeger:4318" && c.Tracing.OTEL["OTEL_SERVICE_NAME"] == "x"
			}},
		{"hops via the local gateway's NATS", map[string]string{"hop_transport": "nats", "nats_url": "nats://127.0.0.1:4333"},
			func(c runtime.Config) bool {
				return c.HopTransport == runtime.HopsViaNATS && c.NATSURL == "nats://127.0.0.1:4333"
			}},
		{"memory stores warn", map[string]string{"state_store": "memory", "data_store": "memory"},
			func(c runtime.Config) bool { return len(c.Warnings) == 2 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := runtime.LoadConfig(envOf(tc.env), runtime.MapSecrets{})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config: %+v", c)
			}
		})
	}
}

func TestLoadConfigRejectsBadValuesNamingTheSetting(t *testing.T) {
	cases := []struct {
		env     map[string]string
		setting string
	}{
		{map[string]string{"read_timeout": "soon"}, "read_timeout"},
		{map[string]string{"write_timeout": "0"}, "write_timeout"},
		{map[string]string{"max_body_size": "-3"}, "max_body_size"},
		{map[string]string{"gateway": "ftp://x"}, "gateway"},
		{map[string]string{"state_store": "consul"}, "state_store"},
		{map[string]string{"data_store": "bolt"}, "data_store"},
		{map[string]string{"s3_tls": "maybe"}, "s3_tls"},
		{map[string]string{"flow_name": "a/b"}, "flow_name"},
		{map[string]string{"OPENFAAS_NAME": "a b"}, "OPENFAAS_NAME"},
		{map[string]string{"etcd_cert_file": "/c.pem"}, "etcd_key_file"},
		{map[string]string{"callback_attempts": "0"}, "callback_attempts"},
		{map[string]string{"log_level": "loud"}, "log_level"},
		{map[string]string{"hop_transport": "kafka"}, "hop_transport"},
		{map[string]string{"gc_heap_floor": "lots"}, "gc_heap_floor"},
	}
	for _, tc := range cases {
		t.Run(tc.setting, func(t *testing.T) {
			_, err := runtime.LoadConfig(envOf(tc.env), runtime.MapSecrets{})
			if !errors.Is(err, runtime.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.setting) {
				t.Fatalf("error %q does not name %s", err, tc.setting)
			}
		})
	}
}

func TestLoadConfigReportsEveryBadSetting(t *testing.T) {
	_, err := runtime.LoadConfig(envOf(map[string]string{"read_timeout": "x", "s3_tls": "y"}), runtime.MapSecrets{})
	if err == nil || !strings.Contains(err.Error(), "read_timeout") || !strings.Contains(err.Error(), "s3_tls") {
		t.Fatalf("err = %v, want both settings named", err)
	}
}

func TestLoadConfigInsecureModes(t *testing.T) {
	cases := []struct {
		name         string
		env          map[string]string
		secrets      runtime.MapSecrets
		wantInsecure bool
		wantReason   string
		wantWarning  string
	}{
		{"secret present: secure", map[string]string{}, runtime.MapSecrets{"faasflow-hmac-secret": "k"}, false, "", ""},
		{"no secret, no switch: secure (NewServer refuses multi-node flows)", map[string]string{}, runtime.MapSecrets{}, false, "", ""},
		{"explicit insecure", map[string]string{"faasflow_insecure_hops": "true"}, runtime.MapSecrets{}, true, "faasflow_insecure_hops=true", "INSECURE"},
		{"faas-flow validate_request=false", map[string]string{"validate_request": "false"}, runtime.MapSecrets{}, true, "validate_request=false", "INSECURE"},
		{"insecure switch ignored when the secret exists", map[string]string{"faasflow_insecure_hops": "true"}, runtime.MapSecrets{"faasflow-hmac-secret": "k"}, false, "", "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := runtime.LoadConfig(envOf(tc.env), tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if c.InsecureHops != tc.wantInsecure || c.InsecureReason != tc.wantReason {
				t.Fatalf("insecure = %v (%q), want %v (%q)", c.InsecureHops, c.InsecureReason, tc.wantInsecure, tc.wantReason)
			}
			joined := strings.Join(c.Warnings, "\n")
			if tc.wantWarning == "" && joined != "" || !strings.Contains(joined, tc.wantWarning) {
				t.Fatalf("warnings %q, want %q", joined, tc.wantWarning)
			}
		})
	}
}

func TestLoadConfigReadsSecretFilesFromMountPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("faasflow-hmac-secret", "hmac-key\n")
	write("etcd-username", "root")
	write("etcd-password", "pw")
	write("nats-username", "flows")
	write("nats-password", "npw\n")
	write("my-access", "AK")
	write("s3-secret-key", "SK\n")
	c, err := runtime.LoadConfig(envOf(map[string]string{
		"secret_mount_path":  dir,
		"s3_access_key_name": "my-access",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.HMACSecret) != "hmac-key" || c.Etcd.Username != "root" || c.Etcd.Password != "pw" ||
		c.S3.AccessKey != "AK" || c.S3.SecretKey != "SK" || c.NATSUser != "flows" || c.NATSPassword != "npw" {
		t.Fatalf("secrets not read: %+v %+v %q NATS %q %q", c.Etcd, c.S3, c.HMACSecret, c.NATSUser, c.NATSPassword)
	}
}

func TestFileSecretsRejectsPathsOutsideTheMount(t *testing.T) {
	fs := runtime.FileSecrets{Dir: t.TempDir()}
	for _, name := range []string{"../etc/passwd", "a/b", "..", ""} {
		if _, err := fs.ReadSecret(name); err == nil || errors.Is(err, runtime.ErrSecretNotFound) {
			t.Errorf("ReadSecret(%q) = %v, want an invalid-name error", name, err)
		}
	}
	if _, err := fs.ReadSecret("missing"); !errors.Is(err, runtime.ErrSecretNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestEverySettingIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range runtime.Settings() {
		if s.Name == "" || s.Doc == "" || s.Group == "" {
			t.Errorf("setting %+v lacks a name, doc or group", s)
		}
		if seen[s.Name] {
			t.Errorf("setting %s listed twice", s.Name)
		}
		seen[s.Name] = true
	}
}

func TestLoadConfigLegacyNames(t *testing.T) {
	c, err := runtime.LoadConfig(envOf(map[string]string{"enable_hmac": "false", "verify_request": "true", "consul_url": "consul:8500"}),
		runtime.MapSecrets{"faasflow-hmac-secret": ""})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(c.Warnings, "\n")
	if !c.InsecureHops || !c.AuthenticateRequest || !strings.Contains(joined, "consul_url is ignored") || !strings.Contains(joined, "enable_hmac") {
		t.Fatalf("config %+v warnings %q", c, joined)
	}
}
