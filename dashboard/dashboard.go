package dashboard

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFiles embed.FS

// Options configure the dashboard.
type Options struct {
	// GatewayURL is the gateway the dashboard reads flows through (for
	// example http://127.0.0.1:8080 or http://gateway.openfaas:8080).
	GatewayURL string
	// Username and Password are the gateway's basic-auth login. The
	// dashboard sends them to the gateway and, when Username is set,
	// requires them from the browser too.
	Username, Password string
	// JaegerURL, when set, is the Jaeger UI a request's trace is linked to.
	JaegerURL string
	// HTTPClient calls the gateway (default: a client with a 30 s timeout).
	HTTPClient *http.Client
}

// ErrNoGateway reports Options without a usable GatewayURL.
var ErrNoGateway = errors.New("dashboard: Options.GatewayURL must be an absolute http(s) URL")

// handler is the dashboard: the page and its API.
type handler struct {
	opts   Options
	gw     *url.URL
	mux    *http.ServeMux
	probes probeCache
}

// New returns the dashboard's handler. It serves the page at "/" and its
// API under "/api/"; mount it under a prefix with http.StripPrefix.
func New(opts Options) (http.Handler, error) {
	gw, err := url.Parse(strings.TrimRight(opts.GatewayURL, "/"))
	if err != nil || (gw.Scheme != "http" && gw.Scheme != "https") || gw.Host == "" {
		return nil, ErrNoGateway
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	h := &handler{opts: opts, gw: gw, mux: http.NewServeMux(), probes: probeCache{m: map[string]bool{}}}
	h.mux.Handle("GET /", noCache(http.FileServerFS(static)))
	h.mux.HandleFunc("GET /api/config", h.config)
	h.mux.HandleFunc("GET /api/flows", h.flows)
	h.mux.HandleFunc("GET /api/flows/{flow}/dag", h.dag)
	h.mux.HandleFunc("GET /api/flows/{flow}/requests", h.requests)
	h.mux.HandleFunc("GET /api/flows/{flow}/requests/{id}", h.request)
	h.mux.HandleFunc("POST /api/flows/{flow}/requests/{id}/{action}", h.control)
	return h, nil
}

// ServeHTTP checks the browser's login (when one is configured) and serves
// the page or the API.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Username != "" && !h.loggedIn(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="faas-flow"`)
		writeError(w, http.StatusUnauthorized, "login required")
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	w.Header().Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) loggedIn(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(h.opts.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(h.opts.Password)) == 1
	return uok && pok
}

// noCache keeps browsers from serving an older page after an upgrade.
func noCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// config answers the page's settings.
func (h *handler) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"jaeger_url": strings.TrimRight(h.opts.JaegerURL, "/")})
}

var (
	// flowName is what OpenFaaS accepts as a function name (with an
	// optional .namespace).
	flowName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9-]{1,63})?$`)
	// requestID is what the engine accepts as a request id.
	requestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// pathValues returns the flow (and request id, when the route has one) of
// r, answering 400 and returning ok false when one is malformed.
func pathValues(w http.ResponseWriter, r *http.Request) (flow, id string, ok bool) {
	flow, id = r.PathValue("flow"), r.PathValue("id")
	if !flowName.MatchString(flow) {
		writeError(w, http.StatusBadRequest, "bad flow name")
		return "", "", false
	}
	if r.Pattern != "" && strings.Contains(r.Pattern, "{id}") && (!requestID.MatchString(id) || id == "." || id == "..") {
		writeError(w, http.StatusBadRequest, "bad request id")
		return "", "", false
	}
	return flow, id, true
}

// writeJSON answers code with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers code with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// probeCache remembers which functions answered as flows, by name and
// creation time, so each deployment is probed once.
type probeCache struct {
	mu sync.Mutex
	m  map[string]bool
}

func (c *probeCache) get(key string) (isFlow, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	isFlow, known = c.m[key]
	return isFlow, known
}

func (c *probeCache) put(key string, isFlow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 4096 {
		clear(c.m)
	}
	c.m[key] = isFlow
}
