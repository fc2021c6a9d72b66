package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// The tests in this file each prove one detail of the OpenFaaS contract the
// gateway keeps; docs/gateway.md ("What we rely on from OpenFaaS") lists
// them in the same order.

func TestContract01PutOfUnknownFunctionIs404SoFaasCliFallsBackToPost(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c01-built"}) // registers the image c01-built:latest
	body := `{"service":"c01-new","image":"c01-built:latest","labels":{},"annotations":{}}`
	if r := sys(t, l, "PUT", "/system/functions", body); r.code != http.StatusNotFound {
		t.Fatalf("PUT unknown = %d %q, want 404", r.code, r.body)
	}
	if r := sys(t, l, "POST", "/system/functions", body); r.code != http.StatusAccepted {
		t.Fatalf("POST = %d %q, want 202", r.code, r.body)
	}
	if r := sys(t, l, "PUT", "/system/functions", body); r.code != http.StatusAccepted {
		t.Fatalf("PUT existing = %d %q, want 202", r.code, r.body)
	}
	if r := do(t, "GET", l.URL()+"/function/c01-new/x", "", nil); r.code != 200 {
		t.Fatalf("invoke after deploy = %d %q", r.code, r.body)
	}
}

func TestContract02DeploySucceedsWith202NotWith201(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c02"})
	for _, m := range []string{"POST", "PUT"} {
		r := sys(t, l, m, "/system/functions", `{"service":"c02","image":"c02:latest"}`)
		if r.code != http.StatusOK && r.code != http.StatusAccepted {
			t.Fatalf("%s deploy = %d, want 200 or 202", m, r.code)
		}
	}
	r := sys(t, l, "POST", "/system/secrets", `{"name":"c02-secret","value":"v"}`)
	if r.code != http.StatusOK && r.code != http.StatusAccepted {
		t.Fatalf("secret create = %d, want 200 or 202", r.code)
	}
}

func TestContract03NameDotNamespaceMeansTheSameFunction(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c03"})
	for _, path := range []string{"/function/c03/p", "/function/c03.openfaas-fn/p"} {
		if r := do(t, "POST", l.URL()+path, "b", nil); r.code != 200 || r.body != "POST /p? b" {
			t.Errorf("%s = %d %q", path, r.code, r.body)
		}
	}
	if r := do(t, "POST", l.URL()+"/function/c03.other-ns/p", "", nil); r.code != http.StatusNotFound {
		t.Errorf("other namespace = %d, want 404", r.code)
	}
	cb, ch := callbackServer(t)
	r := do(t, "POST", l.URL()+"/async-function/c03.openfaas-fn/p", "x", map[string]string{"X-Callback-Url": cb})
	if r.code != http.StatusAccepted {
		t.Fatalf("async name.namespace = %d", r.code)
	}
	c := waitCallback(t, ch, 20*time.Second)
	if c.body != "POST /p? x" || c.header.Get("X-Function-Name") != "c03.openfaas-fn" {
		t.Fatalf("callback %q name %q", c.body, c.header.Get("X-Function-Name"))
	}
}

func TestContract04EmptyBearerIs401WithAuthAndIgnoredWithout(t *testing.T) {
	withAuth := sharedLocal(t)
	r := do(t, "GET", withAuth.URL()+"/system/functions", "", map[string]string{"Authorization": "Bearer"})
	if r.code != http.StatusUnauthorized || r.body != "invalid credentials" || r.header.Get("WWW-Authenticate") != `Basic realm="Restricted"` {
		t.Fatalf("auth on, empty bearer = %d %q %v", r.code, r.body, r.header)
	}
	if r := sys(t, withAuth, "GET", "/system/functions", ""); r.code != 200 {
		t.Fatalf("auth on, basic = %d", r.code)
	}
	for _, open := range []string{"/healthz", "/metrics"} {
		if r := do(t, "GET", withAuth.URL()+open, "", nil); r.code != 200 {
			t.Errorf("%s needs no auth, got %d", open, r.code)
		}
	}
	o := fastOptions(t.TempDir())
	o.NoAuth = true
	noAuth := startLocal(t, o)
	r = do(t, "GET", noAuth.URL()+"/system/functions", "", map[string]string{"Authorization": "Bearer"})
	if r.code != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Fatalf("auth off, empty bearer = %d %q", r.code, r.body)
	}
}

func TestContract05AsyncIs202EmptyBodyAndEchoesOnlyAGeneratedCallID(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c05"})
	r := do(t, "POST", l.URL()+"/async-function/c05", "x", nil)
	if r.code != http.StatusAccepted || r.body != "" || r.header.Get("X-Call-Id") == "" {
		t.Fatalf("async without id = %d %q id=%q", r.code, r.body, r.header.Get("X-Call-Id"))
	}
	r = do(t, "POST", l.URL()+"/async-function/c05", "x", map[string]string{"X-Call-Id": "mine"})
	if r.code != http.StatusAccepted || r.body != "" || r.header.Get("X-Call-Id") != "" {
		t.Fatalf("async with id = %d %q id=%q (must not echo)", r.code, r.body, r.header.Get("X-Call-Id"))
	}
	if r := do(t, "GET", l.URL()+"/async-function/c05", "", nil); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("GET async = %d, want 405", r.code)
	}
}

func TestContract06AsyncFailuresAreRetriedAndUnknownFunctionsRejected(t *testing.T) {
	// CE acks everything and accepts unknown names; we retry 5xx and answer
	// 404 for unknown names (allowed by the OpenAPI file).
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c06"})
	if r := do(t, "POST", l.URL()+"/async-function/c06-missing", "x", nil); r.code != http.StatusNotFound {
		t.Fatalf("async unknown = %d, want 404", r.code)
	}
	cb, ch := callbackServer(t)
	counter := t.TempDir() + "/count"
	r := do(t, "POST", l.URL()+"/async-function/c06/fail-until?n=3&file="+counter, "", map[string]string{"X-Callback-Url": cb})
	if r.code != http.StatusAccepted {
		t.Fatalf("async = %d", r.code)
	}
	c := waitCallback(t, ch, 30*time.Second)
	if c.header.Get("X-Function-Status") != "200" || c.body != "ok after 3" {
		t.Fatalf("callback %s %q, want 200 after two retried 500s", c.header.Get("X-Function-Status"), c.body)
	}
}

func TestContract07QueuedMessageIsCEQueueRequestJSON(t *testing.T) {
	o := fastOptions(t.TempDir())
	o.NoQueueWorker = true
	l := startLocal(t, o)
	deploy(t, l, fnDef{name: "c07"})
	r := do(t, "POST", l.URL()+"/async-function/c07/sub/p?q=1", "payload-1", map[string]string{
		"X-Callback-Url": "http://127.0.0.1:18081/callback/here", "X-Custom": "c1", "X-Call-Id": "id-7"})
	if r.code != http.StatusAccepted {
		t.Fatalf("async = %d", r.code)
	}
	user, _ := ReadSecretFile(filepath.Join(l.SecretsDir(), natsUserSecret))
	password, _ := ReadSecretFile(filepath.Join(l.SecretsDir(), natsPasswordSecret))
	nc, err := nats.Connect(l.NATSURL(), nats.UserInfo(user, password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, queuemsg.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, queuemsg.Subject("c07"))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Nats-Msg-Id") != "id-7" {
		t.Errorf("Nats-Msg-Id = %q", msg.Header.Get("Nats-Msg-Id"))
	}
	var m map[string]any
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Body": "cGF5bG9hZC0x", "Method": "POST", "Path": "/sub/p", "QueryString": "q=1", "Function": "c07"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	cb, _ := m["CallbackUrl"].(map[string]any)
	if cb["Scheme"] != "http" || cb["Host"] != "127.0.0.1:18081" || cb["Path"] != "/callback/here" {
		t.Errorf("CallbackUrl = %v", m["CallbackUrl"])
	}
	h, _ := m["Header"].(map[string]any)
	for _, k := range []string{"X-Custom", "X-Call-Id", "X-Start-Time", "X-Callback-Url"} {
		if _, ok := h[k].([]any); !ok {
			t.Errorf("Header[%s] missing or not a list: %v", k, h[k])
		}
	}
}

func TestContract08QueueWorkerPostsAndCallbackCarriesFunctionHeaders(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c08"})
	cb, ch := callbackServer(t)
	r := do(t, "POST", l.URL()+"/async-function/c08/headers", "x", map[string]string{"X-Callback-Url": cb, "X-Call-Id": "cid-8", "X-Custom": "c1"})
	if r.code != http.StatusAccepted {
		t.Fatalf("async = %d", r.code)
	}
	c := waitCallback(t, ch, 20*time.Second)
	for k, v := range map[string]string{"X-Call-Id": "cid-8", "X-Function-Status": "200", "X-Function-Name": "c08", "Content-Type": "application/json"} {
		if c.header.Get(k) != v {
			t.Errorf("callback %s = %q, want %q", k, c.header.Get(k), v)
		}
	}
	if c.header.Get("X-Duration-Seconds") == "" {
		t.Error("callback lacks X-Duration-Seconds")
	}
	var seen http.Header
	if err := json.Unmarshal([]byte(c.body), &seen); err != nil {
		t.Fatalf("body %q: %v", c.body, err)
	}
	if seen.Get("X-Custom") != "c1" || seen.Get("X-Call-Id") != "cid-8" {
		t.Errorf("function saw headers %v", seen)
	}
	// the method is always POST for queued calls
	r = do(t, "POST", l.URL()+"/async-function/c08/m", "", map[string]string{"X-Callback-Url": cb})
	if c := waitCallback(t, ch, 20*time.Second); !strings.HasPrefix(c.body, "POST /m") {
		t.Errorf("queued call body %q, want POST", c.body)
	}
}

func TestContract09PathRemainderQueryAndHeadersReachTheFunction(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c09"})
	tests := []struct{ method, path, want string }{
		{"GET", "/function/c09", "GET /? "},
		{"GET", "/function/c09/", "GET /? "},
		{"DELETE", "/function/c09/a/b?x=1&y=2", "DELETE /a/b?x=1&y=2 "},
		{"PUT", "/function/c09/flow/id-1/state?wait=1s", "PUT /flow/id-1/state?wait=1s body"},
	}
	for _, tc := range tests {
		body := ""
		if tc.method == "PUT" {
			body = "body"
		}
		r := do(t, tc.method, l.URL()+tc.path, body, nil)
		if r.code != 200 || r.body != tc.want || r.header.Get("X-Echo-Method") != tc.method {
			t.Errorf("%s %s = %d %q", tc.method, tc.path, r.code, r.body)
		}
		if r.header.Get("X-Duration-Seconds") == "" || r.header.Get("X-Call-Id") == "" {
			t.Errorf("%s %s: missing X-Duration-Seconds/X-Call-Id: %v", tc.method, tc.path, r.header)
		}
	}
	r := do(t, "GET", l.URL()+"/function/c09/headers", "", map[string]string{"X-Custom": "v", "Authorization": "Bearer user-token"})
	var h http.Header
	json.Unmarshal([]byte(r.body), &h)
	if h.Get("X-Custom") != "v" || h.Get("Authorization") != "Bearer user-token" || h.Get("X-Forwarded-Host") == "" || h.Get("X-Call-Id") == "" {
		t.Fatalf("function saw %v", h)
	}
}

func TestContract10UnknownFunctionIs404(t *testing.T) {
	l := sharedLocal(t)
	for _, p := range []string{"/function/nope", "/function/nope.openfaas-fn/x"} {
		if r := do(t, "GET", l.URL()+p, "", nil); r.code != http.StatusNotFound || !strings.Contains(r.body, "error finding function") {
			t.Errorf("%s = %d %q", p, r.code, r.body)
		}
	}
	if r := sys(t, l, "GET", "/system/function/nope", ""); r.code != http.StatusNotFound {
		t.Errorf("status of unknown = %d", r.code)
	}
	deploy(t, l, fnDef{name: "c10"})
	var st api.FunctionStatus
	deadline := time.Now().Add(15 * time.Second)
	for st.AvailableReplicas == 0 && time.Now().Before(deadline) {
		r := sys(t, l, "GET", "/system/function/c10?namespace=openfaas-fn&usage=false", "")
		json.Unmarshal([]byte(r.body), &st)
		time.Sleep(50 * time.Millisecond)
	}
	if st.Name != "c10" || st.AvailableReplicas != 1 || st.Replicas != 1 || st.Image != "c10:latest" {
		t.Fatalf("status = %+v", st)
	}
}

func TestContract11ListFunctionsNeedsNoPrometheus(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c11"})
	do(t, "GET", l.URL()+"/function/c11", "", nil)
	r := sys(t, l, "GET", "/system/functions", "")
	if r.code != 200 {
		t.Fatalf("list = %d", r.code)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range raw {
		if f["name"] == "c11" {
			found = true
			if _, ok := f["createdAt"]; !ok {
				t.Error("createdAt missing")
			}
			if f["invocationCount"].(float64) < 1 {
				t.Errorf("invocationCount = %v", f["invocationCount"])
			}
		}
	}
	if !found {
		t.Fatalf("c11 not listed: %s", r.body)
	}
	if r := sys(t, l, "GET", "/system/namespaces", ""); strings.TrimSpace(r.body) != `["openfaas-fn"]` {
		t.Errorf("namespaces = %q", r.body)
	}
}

func TestContract12FunctionsShareTheHostWithoutPortClashes(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c12-a"}, fnDef{name: "c12-b"})
	a := do(t, "GET", l.URL()+"/function/c12-a/env?k=listen_addr", "", nil)
	b := do(t, "GET", l.URL()+"/function/c12-b/env?k=listen_addr", "", nil)
	if a.code != 200 || b.code != 200 || a.body == b.body || !strings.HasPrefix(a.body, "127.0.0.1:") {
		t.Fatalf("listen addrs %q %q", a.body, b.body)
	}
}

func TestContract13FunctionGetsItsListenAddressNameAndEnv(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c13", env: map[string]string{"FOO": "bar"}},
		fnDef{name: "c13-own", env: map[string]string{"gateway": "http://gateway.openfaas:8080"}})
	want := map[string]map[string]string{
		"c13": {
			"OPENFAAS_NAME": "c13", "OPENFAAS_NAMESPACE": "openfaas-fn", "FOO": "bar", "mode": "http",
			"gateway": l.URL(), "fprocess": "./handler",
		},
		// A deployment's own gateway wins (behind another gateway, it is that one).
		"c13-own": {"OPENFAAS_NAME": "c13-own", "gateway": "http://gateway.openfaas:8080"},
	}
	for fn, env := range want {
		for k, v := range env {
			if r := do(t, "GET", l.URL()+"/function/"+fn+"/env?k="+k, "", nil); r.body != v {
				t.Errorf("%s: env %s = %q, want %q", fn, k, r.body, v)
			}
		}
	}
	r := do(t, "GET", l.URL()+"/function/c13/env?k=secret_mount_path", "", nil)
	if !strings.HasSuffix(r.body, "/secrets/c13/") {
		t.Errorf("secret_mount_path = %q", r.body)
	}
}

func TestContract14BuildContextRestoresTemplateFiles(t *testing.T) {
	// The test handler has no main.go and no template.yml; its build only
	// works because the template's files are laid under it, as faas-cli does.
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "c14"})
	if r := do(t, "GET", l.URL()+"/function/c14", "", nil); r.code != 200 {
		t.Fatalf("invoke = %d", r.code)
	}
}

func TestContract15RemoteBuilderBuildsSignedTarWithoutDocker(t *testing.T) {
	l := sharedLocal(t)
	ctxDir := t.TempDir()
	copyDir(t, repoRoot+"/template/golang-middleware", ctxDir)
	copyDir(t, handlerDir, ctxDir+"/function")
	var tarBuf strings.Builder
	if err := remotebuild.WriteTar(&tarBuf, ctxDir, api.BuildConfig{Image: "c15:1", BuildArgs: map[string]string{"ADDITIONAL_PACKAGE": ""}}); err != nil {
		t.Fatal(err)
	}
	payload := tarBuf.String()
	headers := map[string]string{"Content-Type": "application/octet-stream", "Accept": "application/x-ndjson",
		"X-Build-Signature": remotebuild.Sign([]byte(payload), l.PayloadSecret())}
	r := do(t, "POST", l.URL()+"/build", payload, headers)
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	var last api.BuildResult
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if r.code != 200 || last.Status != "success" || last.Image != "c15:1" {
		t.Fatalf("build = %d %q", r.code, r.body)
	}
	headers["X-Build-Signature"] = remotebuild.Sign([]byte(payload), []byte("wrong"))
	if r := do(t, "POST", l.URL()+"/build", payload, headers); r.code != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d", r.code)
	}
	// faas-cli deploy sends envProcess from template.yml and no handler path
	if r := sys(t, l, "PUT", "/system/functions", `{"service":"c15","image":"c15:1","envProcess":"./handler","labels":{},"annotations":{}}`); r.code != 404 {
		t.Fatalf("PUT = %d", r.code)
	}
	if r := sys(t, l, "POST", "/system/functions", `{"service":"c15","image":"c15:1","envProcess":"./handler","labels":{},"annotations":{}}`); r.code != 202 {
		t.Fatalf("POST = %d %q", r.code, r.body)
	}
	if r := do(t, "POST", l.URL()+"/function/c15.openfaas-fn", "hi", nil); r.code != 200 || r.body != "POST /? hi" {
		t.Fatalf("invoke = %d %q", r.code, r.body)
	}
	if r := sys(t, l, "POST", "/system/functions", `{"service":"c15b","image":"never-built:1","envProcess":"./handler"}`); r.code != 400 || !strings.Contains(r.body, "remote-builder") {
		t.Fatalf("deploy of unbuilt image = %d %q", r.code, r.body)
	}
}
