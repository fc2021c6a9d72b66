package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// twoNodes is a flow of two nodes, so that it keeps request state.
func twoNodes(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Node("b").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Edge("a", "b")
	return nil
}

// flowGateway serves, as a gateway would: "flow", a real flow function
// (the runtime in process, on memory stores); "plain", a function that
// answers anything with 200; "picky", one that answers 404 to every path
// but its own; "down", a function the gateway cannot reach (502); and 404
// "error finding function" for any other name.
func flowGateway(t *testing.T) string {
	t.Helper()
	gw := httptest.NewServer(nil)
	t.Cleanup(gw.Close)
	env := map[string]string{"flow_name": "flow", "gateway": gw.URL, "state_store": "memory", "data_store": "memory"}
	cfg, err := runtime.LoadConfig(func(k string) string { return env[k] }, runtime.MapSecrets{"faasflow-hmac-secret": "key", "basic-auth-user": "admin", "basic-auth-password": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := runtime.NewServer(cfg, twoNodes, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = flow.Close(ctx)
	})
	gw.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/function/"), "/")
		switch name {
		case "flow":
			r.URL.Path = "/" + rest
			flow.ServeHTTP(w, r)
		case "plain":
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
		case "picky":
			http.Error(w, "no such page", http.StatusNotFound)
		case "down":
			w.Header().Set("X-OpenFaaS-Internal", "gateway")
			http.Error(w, "function down failed: connection refused", http.StatusBadGateway)
		default:
			http.Error(w, "error finding function "+name+": function not deployed", http.StatusNotFound)
		}
	})
	return gw.URL
}

// TestFlowCommandsTellAFlowFromAnyOtherFunction proves that state, the
// request controls and dag print what a flow answers, its errors
// included, fail with "is not a faas-flow flow" for any other function
// whatever it answers, and report the gateway's own errors as they are.
func TestFlowCommandsTellAFlowFromAnyOtherFunction(t *testing.T) {
	if headerFlowRuntime != runtime.HeaderRuntime {
		t.Fatalf("the CLI looks for %s, the flow runtime sends %s", headerFlowRuntime, runtime.HeaderRuntime)
	}
	// The flow wants the gateway's login on its control routes: the CLI
	// sends it.
	gw := []string{"--gateway", flowGateway(t), "--state-dir", t.TempDir(), "--username", "admin", "--password", "pw"}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // a part of it
		stderr   string // a part of it
		notAFlow bool
	}{
		{"dag of a flow", []string{"dag", "flow", "--format", "mermaid"}, 0, "flowchart TD", "", false},
		{"state of a flow's unknown request is the flow's 404", []string{"state", "flow", "req-1"}, 1, "", "status code: 404", false},
		{"pause of a flow's unknown request is the flow's 404", []string{"pause", "flow", "req-1"}, 1, "", "status code: 404", false},
		{"state of a function that answers 200", []string{"state", "plain", "req-1"}, 1, "", "plain is not a faas-flow flow", true},
		{"stop of a function that answers 200", []string{"stop", "plain", "req-1"}, 1, "", "plain is not a faas-flow flow", true},
		{"redrive of a function that answers 200", []string{"redrive", "plain", "req-1"}, 1, "", "plain is not a faas-flow flow", true},
		{"dag of a function that answers 200", []string{"dag", "plain"}, 1, "", "plain is not a faas-flow flow", true},
		{"state of a function that answers 404 itself", []string{"state", "picky", "req-1"}, 1, "", "picky is not a faas-flow flow", true},
		{"state of a function that is not deployed", []string{"state", "missing", "req-1"}, 1, "", "404 - error finding function missing", false},
		{"dag of a function the gateway cannot reach", []string{"dag", "down"}, 1, "", "502 - function down failed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, "", append(tt.args, gw...)...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) ||
				strings.Contains(r.stderr, "is not a faas-flow flow") != tt.notAFlow {
				t.Fatalf("faasflow %s = %d\nstdout %q\nstderr %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr)
			}
			if tt.notAFlow && r.stdout != "" {
				t.Fatalf("printed the answer of a function that is not a flow: %q", r.stdout)
			}
		})
	}
}
