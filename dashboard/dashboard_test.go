package dashboard

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newTest returns the dashboard with a login, pointed at a gateway address
// nothing listens on: these tests cover what it answers by itself.
func newTest(t *testing.T) http.Handler {
	t.Helper()
	h, err := New(Options{GatewayURL: "http://127.0.0.1:1", Username: "admin", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDashboardAnswersOnlyTheConfiguredLogin(t *testing.T) {
	h := newTest(t)
	tests := []struct {
		name       string
		user, pass string
		login      bool
		want       int
	}{
		{name: "no login", want: http.StatusUnauthorized},
		{name: "wrong password", user: "admin", pass: "nope", login: true, want: http.StatusUnauthorized},
		{name: "wrong user", user: "root", pass: "secret", login: true, want: http.StatusUnauthorized},
		{name: "the gateway's login", user: "admin", pass: "secret", login: true, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/", "/api/config"} {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				if tt.login {
					r.SetBasicAuth(tt.user, tt.pass)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.want {
					t.Fatalf("GET %s: %d, want %d", path, w.Code, tt.want)
				}
				if tt.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != `Basic realm="faas-flow"` {
					t.Fatalf("GET %s: WWW-Authenticate %q", path, w.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestDashboardServesItsEmbeddedPageAndLibrary(t *testing.T) {
	h := newTest(t)
	for path, want := range map[string]string{
		"/":                           "<title>faas-flow dashboard</title>",
		"/app.js":                     "api(\"flows\")",
		"/graph.js":                   "dagre.layout",
		"/vendor/dagre-3.1.4.min.js":  "var dagre=",
		"/vendor/dagre-3.1.4.LICENSE": "Permission is hereby granted",
		"/style.css":                  ".dag .node.st-succeeded",
	} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.SetBasicAuth("admin", "secret")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body without %q", path, w.Code, want)
		}
	}
}

func TestDashboardRefusesMalformedRequestsBeforeCallingTheGateway(t *testing.T) {
	h := newTest(t)
	tests := []struct {
		name, method, path string
		header             bool
		want               int
	}{
		{"flow name with a slash escape", http.MethodGet, "/api/flows/a%2Fb/dag", false, http.StatusBadRequest},
		{"upper-case flow name", http.MethodGet, "/api/flows/Tour/requests", false, http.StatusBadRequest},
		{"request id with a space", http.MethodGet, "/api/flows/tour/requests/a%20b", false, http.StatusBadRequest},
		{"request id too long", http.MethodGet, "/api/flows/tour/requests/" + strings.Repeat("x", 129), false, http.StatusBadRequest},
		{"control without the dashboard's header", http.MethodPost, "/api/flows/tour/requests/r1/pause", false, http.StatusForbidden},
		{"unknown action", http.MethodPost, "/api/flows/tour/requests/r1/explode", true, http.StatusNotFound},
		{"control by GET", http.MethodGet, "/api/flows/tour/requests/r1/pause", false, http.StatusNotFound},
		// The gateway is unreachable: a well-formed call gets that far.
		{"well-formed control", http.MethodPost, "/api/flows/tour/requests/r1/pause", true, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.SetBasicAuth("admin", "secret")
			if tt.header {
				r.Header.Set(headerAction, "1")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.want)
			}
		})
	}
}

func TestNewRefusesAGatewayURLItCannotCall(t *testing.T) {
	for _, u := range []string{"", "gateway:8080", "ftp://gateway", "http://"} {
		if _, err := New(Options{GatewayURL: u}); !errors.Is(err, ErrNoGateway) {
			t.Errorf("GatewayURL %q: %v, want ErrNoGateway", u, err)
		}
	}
}

func TestConfigGivesThePageTheJaegerURL(t *testing.T) {
	tests := []struct{ name, jaeger, want string }{
		{"none", "", `{"jaeger_url":""}`},
		{"trailing slash dropped", "http://jaeger:16686/", `{"jaeger_url":"http://jaeger:16686"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(Options{GatewayURL: "http://127.0.0.1:1", JaegerURL: tt.jaeger})
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/config", nil))
			if got := strings.TrimSpace(w.Body.String()); w.Code != http.StatusOK || got != tt.want {
				t.Fatalf("%d %s, want %s", w.Code, got, tt.want)
			}
		})
	}
}
