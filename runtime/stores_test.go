package runtime_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
)

// TestConfiguredStoresRunAFlow runs a multi-node flow on the stores chosen
// by configuration: real etcd with real MinIO, and real etcd with the local
// data store.
func TestConfiguredStoresRunAFlow(t *testing.T) {
	endpoints := strings.Join(testenv.Etcd(t), ",")
	m := testenv.MinIO(t)
	mtls := testenv.MinIOTLS(t)
	cases := []struct {
		name    string
		env     map[string]string
		secrets map[string]string
	}{
		{"etcd and minio", map[string]string{"data_store": "minio", "s3_url": m.Endpoint, "s3_bucket": "runtime-test"},
			map[string]string{"s3-access-key": m.AccessKey, "s3-secret-key": m.SecretKey}},
		{"etcd and minio over TLS with a private CA", map[string]string{"data_store": "minio", "s3_url": mtls.URL(), "s3_ca_file": mtls.CAFile},
			map[string]string{"s3-access-key": mtls.AccessKey, "s3-secret-key": mtls.SecretKey}},
		{"etcd and local", map[string]string{"data_store": "local", "data_dir": t.TempDir()}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"state_store": "etcd", "etcd_endpoints": endpoints, "etcd_key_prefix": "rt-" + strings.ReplaceAll(tc.name, " ", "-") + "/"}
			for k, v := range tc.env {
				env[k] = v
			}
			dir := fakegateway.SecretDir(t, tc.secrets)
			env["secret_mount_path"] = dir
			f := startFlowWithSecrets(t, parallelFlow, env, map[string]string{"faasflow-hmac-secret": testKey})
			r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=15s", []byte("st"))
			if r.Status != 200 || string(r.Body) != "ST+ts!" {
				t.Fatalf("%d %q", r.Status, r.Body)
			}
		})
	}
	t.Run("wrong MinIO credentials stop the start", func(t *testing.T) {
		cfg, err := runtime.LoadConfig(envOf(map[string]string{
			"flow_name": "f", "state_store": "memory", "data_store": "minio", "s3_url": m.Endpoint,
		}), runtime.MapSecrets{"faasflow-hmac-secret": "k", "s3-access-key": "nobody", "s3-secret-key": "wrong-secret"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if !errors.Is(err, runtime.ErrStoreConfig) || !strings.Contains(err.Error(), "s3_url") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing S3 secrets are named", func(t *testing.T) {
		cfg, _ := runtime.LoadConfig(envOf(map[string]string{"flow_name": "f", "state_store": "memory", "data_store": "s3"}), runtime.MapSecrets{"faasflow-hmac-secret": "k"})
		_, err := runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if !errors.Is(err, runtime.ErrStoreConfig) || !strings.Contains(err.Error(), "s3-access-key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unreachable etcd stops the start", func(t *testing.T) {
		cfg, _ := runtime.LoadConfig(envOf(map[string]string{"flow_name": "f", "etcd_endpoints": "127.0.0.1:1", "etcd_dial_timeout": "500ms", "data_store": "memory"}), runtime.MapSecrets{"faasflow-hmac-secret": "k"})
		_, err := runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if !errors.Is(err, runtime.ErrStoreConfig) || !strings.Contains(err.Error(), "etcd_endpoints") {
			t.Fatalf("err = %v", err)
		}
	})
}
