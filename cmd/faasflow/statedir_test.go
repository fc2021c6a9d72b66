package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestGatewayURLComesFromFlagEnvRunningUpThenDefault: the gateway URL of
// the client commands is --gateway, else $OPENFAAS_URL, else the URL a
// running `faasflow up` wrote in the state dir (--state-dir, else
// $FAASFLOW_STATE_DIR), else the stack's gateway, else port 8080; the
// URL of an up that is not running any more is ignored.
func TestGatewayURLComesFromFlagEnvRunningUpThenDefault(t *testing.T) {
	running, stale, empty := t.TempDir(), t.TempDir(), t.TempDir()
	writeUp := func(dir string, pid int, url string) {
		if _, err := writeRunning(dir, pid, url); err != nil {
			t.Fatal(err)
		}
	}
	writeUp(running, os.Getpid(), "http://127.0.0.1:9001")
	writeUp(stale, 1<<30, "http://127.0.0.1:9002") // no such process
	tests := []struct {
		name     string
		flags    gatewayFlags
		vars     map[string]string
		fallback string
		want     string
	}{
		{"--gateway wins", gatewayFlags{gateway: "http://flag:1/", stateDir: running}, map[string]string{"OPENFAAS_URL": "http://env:1"}, "http://stack:1", "http://flag:1"},
		{"then $OPENFAAS_URL", gatewayFlags{stateDir: running}, map[string]string{"OPENFAAS_URL": "http://env:1"}, "http://stack:1", "http://env:1"},
		{"then the running up of --state-dir", gatewayFlags{stateDir: running}, nil, "http://stack:1", "http://127.0.0.1:9001"},
		{"then the running up of $FAASFLOW_STATE_DIR", gatewayFlags{}, map[string]string{"FAASFLOW_STATE_DIR": running}, "", "http://127.0.0.1:9001"},
		{"--state-dir wins over $FAASFLOW_STATE_DIR", gatewayFlags{stateDir: empty}, map[string]string{"FAASFLOW_STATE_DIR": running}, "", "http://127.0.0.1:8080"},
		{"an up that is not running is ignored", gatewayFlags{stateDir: stale}, nil, "http://stack:1", "http://stack:1"},
		{"then the stack's gateway", gatewayFlags{stateDir: empty}, nil, "http://stack:1/", "http://stack:1"},
		{"then port 8080", gatewayFlags{stateDir: empty}, nil, "", "http://127.0.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{getenv: func(k string) string { return tt.vars[k] }}
			if got := tt.flags.url(e, tt.fallback); got != tt.want {
				t.Fatalf("url = %q, want %q", got, tt.want)
			}
		})
	}
	// The remover writing returns takes both files away.
	remove, err := writeRunning(empty, os.Getpid(), "http://x")
	if err != nil {
		t.Fatal(err)
	}
	remove()
	for _, f := range []string{pidFile, urlFile} {
		if _, err := os.Stat(filepath.Join(empty, f)); !os.IsNotExist(err) {
			t.Fatalf("%s left: %v", f, err)
		}
	}
}
