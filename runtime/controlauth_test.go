package runtime_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
)

const (
	authUser = "admin"
	authPass = "s3cret-pass"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// startGuardedFlow serves twoNodeFlow with control_auth=basic and the login
// authUser/authPass, and starts one request that stays running (its hop is
// held). It returns the flow and the request's id.
func startGuardedFlow(t *testing.T, env map[string]string) (*flowEnv, string) {
	t.Helper()
	e := map[string]string{"control_auth": "basic"}
	for k, v := range env {
		e[k] = v
	}
	f := startFlowWithSecrets(t, twoNodeFlow, e, map[string]string{
		"faasflow-hmac-secret": testKey, runtime.SecretBasicAuthUser: authUser, runtime.SecretBasicAuthPassword: authPass,
	})
	f.gw.SetHold(true)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x"))
	id := r.Header.Get(runtime.HeaderRequestID)
	if r.Status != http.StatusAccepted || id == "" {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	return f, id
}

// controlRoutes are the routes that read or change requests, with a
// request id to fill in.
var controlRoutes = []struct{ method, path string }{
	{http.MethodGet, "/flow/{id}/state"},
	{http.MethodHead, "/flow/{id}/state"},
	{http.MethodGet, "/flow/{id}/result"},
	{http.MethodPost, "/flow/{id}/pause"},
	{http.MethodPost, "/flow/{id}/resume"},
	{http.MethodPost, "/flow/{id}/stop"},
	{http.MethodPost, "/flow/{id}/redrive"},
	{http.MethodGet, "/flow/requests"},
	{http.MethodGet, "/flow/requests?state=running"},
	{http.MethodGet, "/?state={id}"},
	{http.MethodPost, "/?pause-flow={id}"},
	{http.MethodPost, "/?resume-flow={id}"},
	{http.MethodPost, "/?stop-flow={id}"},
	{http.MethodPost, "/?redrive-flow={id}"},
	{http.MethodPost, "/?stop-flow={id}&export-dag=false"},
}

func TestControlRoutesWantTheFlowsLogin(t *testing.T) {
	f, id := startGuardedFlow(t, nil)
	creds := []struct {
		name   string
		header []string
	}{
		{"no credentials", nil},
		{"wrong password", []string{"Authorization", basicAuth(authUser, "nope")}},
		{"wrong user", []string{"Authorization", basicAuth("root", authPass)}},
		{"empty login", []string{"Authorization", basicAuth("", "")}},
		{"not basic", []string{"Authorization", "Bearer " + authPass}},
	}
	for _, c := range creds {
		for _, rt := range controlRoutes {
			path := strings.ReplaceAll(rt.path, "{id}", id)
			t.Run(c.name+" "+rt.method+" "+path, func(t *testing.T) {
				r := fakegateway.Do(t, rt.method, f.base+path, nil, c.header...)
				if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Basic realm="faas-flow"` {
					t.Fatalf("%d WWW-Authenticate %q %s, want 401 with a Basic challenge", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
				}
			})
		}
	}
	// None of those calls paused, stopped or redrove the request.
	ok := []string{"Authorization", basicAuth(authUser, authPass)}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil, ok...); r.Status != http.StatusOK || r.JSON(t)["state"] != "running" {
		t.Fatalf("state with the login: %d %s, want 200 running", r.Status, r.Body)
	}
	for _, rt := range controlRoutes {
		path := strings.ReplaceAll(rt.path, "{id}", id)
		if r := fakegateway.Do(t, rt.method, f.base+path, nil, ok...); r.Status == http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s with the login: %d %s", rt.method, path, r.Status, r.Body)
		}
	}
}

func TestTheLoginPausesARequest(t *testing.T) {
	f, id := startGuardedFlow(t, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/pause", nil, "Authorization", basicAuth(authUser, authPass))
	if r.Status != http.StatusOK {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	r = fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil, "Authorization", basicAuth(authUser, authPass))
	if r.JSON(t)["state"] != "paused" {
		t.Fatalf("state after pause: %s", r.Body)
	}
}

func TestRoutesOutsideControlStayOpen(t *testing.T) {
	f, id := startGuardedFlow(t, nil)
	tests := []struct {
		name, method, path string
		body               string
		want               int
	}{
		{"start a request", http.MethodPost, "/", "x", http.StatusAccepted},
		{"the definition", http.MethodGet, "/?dag=json", "", http.StatusOK},
		{"the definition wins over a control query", http.MethodGet, "/?dag=json&stop-flow=" + id, "", http.StatusOK},
		{"the exported definition", http.MethodGet, "/?export-dag=true", "", http.StatusOK},
		{"health", http.MethodGet, "/_/health", "", http.StatusOK},
		{"a hop (signed, checked on its own)", http.MethodPost, "/flow/" + id + "/forward", "not a hop", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fakegateway.Do(t, tt.method, f.base+tt.path, []byte(tt.body))
			if r.Status != tt.want || r.Header.Get("WWW-Authenticate") != "" {
				t.Fatalf("%d WWW-Authenticate %q %s, want %d without a challenge", r.Status, r.Header.Get("WWW-Authenticate"), r.Body, tt.want)
			}
		})
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("state after the open calls: %d, want 401", r.Status)
	}
}

func TestControlAuthNoneOpensTheControlRoutes(t *testing.T) {
	f, id := startGuardedFlow(t, map[string]string{"control_auth": "none"})
	for _, path := range []string{"/flow/" + id + "/state", "/?state=" + id} {
		if r := fakegateway.Do(t, http.MethodGet, f.base+path, nil); r.Status != http.StatusOK {
			t.Fatalf("%s without credentials: %d %s, want 200", path, r.Status, r.Body)
		}
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/pause", nil); r.Status != http.StatusOK {
		t.Fatalf("pause without credentials: %d %s, want 200", r.Status, r.Body)
	}
}

func TestControlAuthWithoutTheLoginSecretsRefusesEveryCall(t *testing.T) {
	f := startFlow(t, twoNodeFlow, map[string]string{"control_auth": "basic"})
	for _, h := range [][]string{nil, {"Authorization", basicAuth("", "")}, {"Authorization", basicAuth(authUser, authPass)}} {
		if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/any/state", nil, h...); r.Status != http.StatusUnauthorized {
			t.Fatalf("state with %v and no login configured: %d %s, want 401", h, r.Status, r.Body)
		}
	}
}

func TestLoadConfigReadsControlAuth(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		secrets runtime.MapSecrets
		want    string
		user    string
		wantErr bool
	}{
		{"basic by default", nil, runtime.MapSecrets{}, runtime.ControlAuthBasic, "", false},
		{"the login from the secrets", nil, runtime.MapSecrets{"basic-auth-user": "u", "basic-auth-password": "p"}, runtime.ControlAuthBasic, "u", false},
		{"none", map[string]string{"control_auth": "none"}, runtime.MapSecrets{}, runtime.ControlAuthNone, "", false},
		{"anything else is refused", map[string]string{"control_auth": "open"}, runtime.MapSecrets{}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := runtime.LoadConfig(envOf(tt.env), tt.secrets)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "control_auth") {
					t.Fatalf("err %v, want one naming control_auth", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ControlAuth != tt.want || c.ControlUser != tt.user || (tt.user != "" && c.ControlPassword != "p") {
				t.Fatalf("ControlAuth %q user %q password %q", c.ControlAuth, c.ControlUser, c.ControlPassword)
			}
		})
	}
}
