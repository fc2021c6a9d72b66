package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServerServesHealthOpenlyAndThePageBehindTheSecretsLogin(t *testing.T) {
	secrets := t.TempDir()
	for name, v := range map[string]string{"basic-auth-user": "admin\n", "basic-auth-password": "s3cret\n"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{"port": "0", "secret_mount_path": secrets, "gateway_url": "http://127.0.0.1:1"}),
			slog.New(slog.NewTextHandler(io.Discard, nil)), ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not start")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(path, user, pass string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, user, pass string
		want                   int
		body                   string
	}{
		{"health needs no login", "/_/health", "", "", http.StatusOK, "OK"},
		{"page without login", "/", "", "", http.StatusUnauthorized, ""},
		{"page with the secrets' login", "/", "admin", "s3cret", http.StatusOK, "faas-flow dashboard"},
		{"page with another login", "/", "admin", "guess", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.path, tt.user, tt.pass)
			if code != tt.want || !strings.Contains(body, tt.body) {
				t.Fatalf("GET %s: %d %.80q, want %d with %q", tt.path, code, body, tt.want, tt.body)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestConfigWantsBothSecretsOrNeither(t *testing.T) {
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "basic-auth-user"), []byte("admin"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(env(map[string]string{"secret_mount_path": secrets})); err == nil {
		t.Fatal("a user without a password was accepted")
	}
	c, err := loadConfig(env(map[string]string{"secret_mount_path": t.TempDir(), "jaeger_url": "http://jaeger:16686"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.Username != "" || c.opts.GatewayURL != "http://gateway.openfaas:8080" || c.opts.JaegerURL != "http://jaeger:16686" || c.addr != ":8080" {
		t.Fatalf("defaults: %+v %s", c.opts, c.addr)
	}
}
