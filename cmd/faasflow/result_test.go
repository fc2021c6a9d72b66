package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
)

// failsAtB is a flow of two nodes whose second fails.
func failsAtB(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(in []byte) ([]byte, error) { return in, nil })
	dag.Node("b").Modify(func([]byte) ([]byte, error) { return nil, errors.New("node b gave up") })
	dag.Edge("a", "b")
	return nil
}

// flowsGateway serves, as a gateway would, two real flow functions (the
// runtime in process, on memory stores, with the login admin/pw on their
// control and read routes): "ok" (twoNodes) and "fails" (failsAtB). Their
// hops, POSTed to /async-function/, are run in the background as the
// gateway's queue would. "plain" is a function that tells whether it was
// sent basic auth, and GET /system/functions lists the three ("fails"
// scaled to zero).
func flowsGateway(t *testing.T) string {
	t.Helper()
	gw := httptest.NewServer(nil)
	t.Cleanup(gw.Close)
	flows := map[string]*runtime.Server{}
	for name, define := range map[string]faasflow.DefineFunc{"ok": twoNodes, "fails": failsAtB} {
		env := map[string]string{"flow_name": name, "gateway": gw.URL, "state_store": "memory", "data_store": "memory"}
		cfg, err := runtime.LoadConfig(func(k string) string { return env[k] },
			runtime.MapSecrets{"faasflow-hmac-secret": "key", "basic-auth-user": "admin", "basic-auth-password": "pw"})
		if err != nil {
			t.Fatal(err)
		}
		flow, err := runtime.NewServer(cfg, define, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = flow.Close(ctx)
		})
		flows[name] = flow
	}
	gw.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/system/functions":
			io.WriteString(w, `[{"name":"ok","image":"ok:1","replicas":1,"availableReplicas":1},`+
				`{"name":"fails","image":"fails:1","replicas":0},{"name":"plain","image":"plain:1","replicas":1,"availableReplicas":1}]`)
			return
		case "/system/function/ok":
			io.WriteString(w, `{"name":"ok","image":"ok:1","replicas":1,"availableReplicas":1}`)
			return
		case "/function/plain", "/function/plain/_/health":
			_, _, hasAuth := r.BasicAuth()
			fmt.Fprintf(w, "basic auth: %v", hasAuth)
			return
		}
		async := strings.HasPrefix(r.URL.Path, "/async-function/")
		name, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/async-function/"), "/function/"), "/")
		flow, ok := flows[name]
		if !ok {
			http.Error(w, "error finding function "+name+": function not deployed", http.StatusNotFound)
			return
		}
		r.URL.Path = "/" + rest
		if !async {
			flow.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		hop := r.Clone(context.Background())
		hop.Body = io.NopCloser(bytes.NewReader(body))
		go flow.ServeHTTP(httptest.NewRecorder(), hop)
		w.WriteHeader(http.StatusAccepted)
	})
	return gw.URL
}

// startRequest starts a request of flow and returns its id.
func startRequest(t *testing.T, gatewayURL, flow, body string) string {
	t.Helper()
	resp, err := http.Post(gatewayURL+"/function/"+flow, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get(runtime.HeaderRequestID)
	if id == "" {
		t.Fatalf("starting a request of %s: %s without a request id", flow, resp.Status)
	}
	return id
}

// waitResult runs `faasflow result` until the request has ended (the
// flow no longer answers 409, which it does while the request runs).
func waitResult(t *testing.T, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := cli(t, "", append([]string{"result"}, args...)...)
		if !strings.Contains(r.stderr, "status 409)") || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResultPrintsTheBodyOrFailsWithTheFlowsError proves that `result`
// prints a succeeded request's result on stdout and exits 0, fails (exit
// 1) with the flow's own error for a failed one, and sends the gateway's
// login, which the flow's result route requires.
func TestResultPrintsTheBodyOrFailsWithTheFlowsError(t *testing.T) {
	gw := flowsGateway(t)
	login := []string{"--gateway", gw, "--state-dir", t.TempDir(), "--username", "admin", "--password", "pw"}
	okID := startRequest(t, gw, "ok", "hello")
	failedID := startRequest(t, gw, "fails", "hello")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // all of it
		stderr string // a part of it
	}{
		{"a succeeded request's result is printed", append([]string{"ok", okID}, login...), 0, "hello", ""},
		{"a failed request fails with the flow's error", append([]string{"fails", failedID}, login...), 1, "", "faasflow result: the flow failed: "},
		{"the failure names the failing node's error", append([]string{"fails", failedID}, login...), 1, "", "node b gave up"},
		{"an unknown request is the flow's 404", append([]string{"ok", "no-such-request"}, login...), 1, "", "(status 404)\n"},
		{"a wrong password is refused by the flow", []string{"ok", okID, "--gateway", gw, "--state-dir", t.TempDir(), "--username", "admin", "--password", "wrong"}, 1, "", "401"},
		{"an unknown function is the gateway's 404", append([]string{"missing", okID}, login...), 1, "", "error finding function missing"},
		{"a missing id is a usage error", append([]string{"ok"}, login...), 2, "", "want FLOW and REQUEST_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := waitResult(t, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("faasflow result %s = %d\nstdout %q\nstderr %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestListTellsFlowsAndOnlyFlowControlCallsCarryTheLogin proves that list
// and describe ask each ready function whether it is a flow, and that
// invoke sends the gateway's login to a flow's control and read routes
// only, not to other calls of a function.
func TestListTellsFlowsAndOnlyFlowControlCallsCarryTheLogin(t *testing.T) {
	gw := flowsGateway(t)
	login := []string{"--gateway", gw, "--state-dir", t.TempDir(), "--username", "admin", "--password", "pw"}
	id := startRequest(t, gw, "ok", "hello")
	waitResult(t, append([]string{"ok", id}, login...)...)
	tests := []struct {
		name   string
		args   []string
		stdout []string // parts of it
	}{
		{"list says which functions are flows", []string{"list"}, []string{
			"fails     0            0/0       fails:1  -\n", "ok        0            1/1       ok:1     yes\n", "plain     0            1/1       plain:1  no\n"}},
		{"describe says a flow is one", []string{"describe", "ok"}, []string{"Flow:                yes\n"}},
		{"a flow's state by path carries the login", []string{"invoke", "ok", "--method", "GET", "--path", "/flow/" + id + "/state"}, []string{`"state": "succeeded"`}},
		{"a flow's state by query carries the login", []string{"invoke", "ok", "--method", "GET", "--query", "state=" + id}, []string{`"state": "succeeded"`}},
		{"any other call goes without it", []string{"invoke", "plain"}, []string{"basic auth: false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, "", append(tt.args, login...)...)
			if r.code != 0 {
				t.Fatalf("faasflow %s = %d %q %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr)
			}
			for _, part := range tt.stdout {
				if !strings.Contains(r.stdout, part) {
					t.Fatalf("faasflow %s: stdout lacks %q:\n%s", strings.Join(tt.args, " "), part, r.stdout)
				}
			}
		})
	}
}
