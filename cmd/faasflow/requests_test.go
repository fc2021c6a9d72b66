package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeFlowGateway answers GET /function/orders/flow/requests like a flow
// behind a gateway that wants the login admin:secret, and records the
// query it was asked.
func fakeFlowGateway(t *testing.T, answer string) (url string, queries *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="faas-flow"`)
			http.Error(w, "credentials missing or wrong", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/function/orders/flow/requests" {
			http.Error(w, "error finding function", http.StatusNotFound)
			return
		}
		seen = append(seen, r.URL.RawQuery)
		w.Header().Set("X-Faas-Flow-Runtime", "test")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &seen
}

const twoRequests = `{"requests":[
 {"id":"r2","state":"failed","started":"2026-12-06T07:00:01Z","ended":"2026-12-06T07:00:03.5Z","duration_ms":2500,"failed_node":"charge","error":"card declined"},
 {"id":"r1","state":"running","started":"2026-12-06T07:00:00Z"}],
 "next_cursor":"abc"}`

func TestRequestsCommandPrintsATableOrJSONAndSendsTheFiltersWithTheLogin(t *testing.T) {
	url, queries := fakeFlowGateway(t, twoRequests)
	vars := map[string]string{"FAASFLOW_USERNAME": "admin", "FAASFLOW_PASSWORD": "secret"}
	gw := []string{"--gateway", url, "--state-dir", t.TempDir()}

	r := cliEnv(t, vars, "", append([]string{"requests", "orders", "--state", "failed,running", "--since", "2026-12-06T07:00:00Z", "--limit", "2"}, gw...)...)
	if r.code != 0 {
		t.Fatalf("requests = %d %q %q", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "FAILED NODE") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, want := range []string{"r2", "failed", "2026-12-06T07:00:01Z", "2.5s", "charge"} {
		if !strings.Contains(lines[1], want) {
			t.Fatalf("row of r2 %q lacks %q", lines[1], want)
		}
	}
	if f := strings.Fields(lines[2]); len(f) != 5 || f[0] != "r1" || f[3] != "-" || f[4] != "-" {
		t.Fatalf("row of a running request: %q", lines[2])
	}
	if want := "more: faasflow requests orders --state failed,running --since 2026-12-06T07:00:00Z --limit 2 --cursor abc"; !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q lacks %q", r.stderr, want)
	}
	if got, want := (*queries)[0], "limit=2&since=2026-12-06T07%3A00%3A00Z&state=failed%2Crunning"; got != want {
		t.Fatalf("query sent %q, want %q", got, want)
	}

	r = cliEnv(t, vars, "", append([]string{"requests", "orders", "--json", "--cursor", "abc"}, gw...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"failed_node": "charge"`) || !strings.Contains(r.stdout, `"next_cursor": "abc"`) {
		t.Fatalf("requests --json = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := (*queries)[1]; got != "cursor=abc" {
		t.Fatalf("query sent %q, want only the cursor", got)
	}
}

func TestRequestsCommandRejectsBadUseAndReportsTheFlowsRefusal(t *testing.T) {
	url, _ := fakeFlowGateway(t, twoRequests)
	gw := []string{"--gateway", url, "--state-dir", t.TempDir()}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		code int
		want string
	}{
		{"no flow", nil, []string{"requests"}, exitUsage, "want FLOW"},
		{"bad since", nil, []string{"requests", "orders", "--since", "yesterday"}, exitUsage, "RFC 3339"},
		{"no login", nil, []string{"requests", "orders"}, 1, "401"},
		{"not deployed", map[string]string{"FAASFLOW_USERNAME": "admin", "FAASFLOW_PASSWORD": "secret"}, []string{"requests", "missing"}, 1, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cliEnv(t, tc.vars, "", append(tc.args, gw...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("%v = %d %q; want %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}
