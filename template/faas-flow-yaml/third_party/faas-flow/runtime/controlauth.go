package runtime

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Values of control_auth.
const (
	// ControlAuthBasic requires HTTP basic auth, checked against the
	// secrets basic-auth-user and basic-auth-password, on the routes that
	// read or change requests.
	ControlAuthBasic = "basic"
	// ControlAuthNone leaves those routes open.
	ControlAuthNone = "none"
)

// Secret names of the login the control and read routes check: OpenFaaS's
// own names for its gateway's login.
const (
	SecretBasicAuthUser     = "basic-auth-user"
	SecretBasicAuthPassword = "basic-auth-password"
)

// ControlRealm is the realm of the WWW-Authenticate challenge of a 401.
const ControlRealm = "faas-flow"

// ErrCredentials reports a call of a control or read route without the
// flow's login, or with a wrong one (control_auth=basic).
var ErrCredentials = errors.New("credentials missing or wrong")

// controlQueries are the query keys of handleRoot that read or change a
// request (the query forms of the /flow/{id}/... routes).
var controlQueries = []string{"state", "pause-flow", "resume-flow", "stop-flow", "redrive-flow"}

// isControlRoute reports whether r reads or changes requests: every path
// under /flow/ except the hop route /flow/{id}/forward (hops are signed),
// and the query forms of "/" that handleRoot sends to handleState or
// handleControl. Starting a request, the definition (?dag, ?export-dag),
// health and metrics are not control routes.
func isControlRoute(r *http.Request) bool {
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, "/flow/"); ok {
		id, action, two := strings.Cut(rest, "/")
		return !(two && id != "" && action == "forward")
	}
	if path != "/" {
		return false
	}
	return rootControl(r.URL.Query())
}

// rootControl reports whether handleRoot answers q with a state or control
// route: the same order of checks, the definition first.
func rootControl(q url.Values) bool {
	if (q.Has("export-dag") && q.Get("export-dag") != "false") || q.Has("dag") {
		return false
	}
	for _, k := range controlQueries {
		if q.Has(k) {
			return true
		}
	}
	return false
}

// checkControlAuth lets through a call of a control route with the flow's
// login (or any call with control_auth=none). Otherwise it answers 401 with
// a Basic challenge and returns false. The user and password are compared
// in constant time; without a configured login every call is refused.
func (s *Server) checkControlAuth(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.ControlAuth == ControlAuthNone || !isControlRoute(r) {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if ok && s.cfg.ControlUser != "" && s.cfg.ControlPassword != "" &&
		equalSecret(user, s.cfg.ControlUser)&equalSecret(pass, s.cfg.ControlPassword) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+ControlRealm+`"`)
	why := "no basic auth"
	if ok {
		why = "wrong user or password"
	}
	s.writeError(w, r, fmt.Errorf("%w: %s needs the flow's login (secrets %s and %s): %s",
		ErrCredentials, r.URL.Path, SecretBasicAuthUser, SecretBasicAuthPassword, why), "")
	return false
}

// warnNoLogin warns, at start, that control_auth=basic without a login
// refuses every call of the control routes.
func (s *Server) warnNoLogin() {
	if s.cfg.ControlAuth != ControlAuthNone && (s.cfg.ControlUser == "" || s.cfg.ControlPassword == "") {
		s.log.Warn(fmt.Sprintf("control_auth=basic without the secrets %s and %s: the routes that read or control requests (state, result, pause...) answer 401 to every call; give the flow those secrets or set control_auth=none",
			SecretBasicAuthUser, SecretBasicAuthPassword))
	}
}

// equalSecret compares a and b in constant time (of their hashes, so the
// time does not tell their lengths either); 1 when equal.
func equalSecret(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}
