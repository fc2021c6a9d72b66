package runtime_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/datastore/local"
	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

const testKey = "test-hmac-key"

func syncFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	flow.SyncNode().Modify(func(d []byte) ([]byte, error) { return []byte("Hello " + string(d)), nil })
	return nil
}

// parallelFlow: start -> a (function "upper" through the gateway),
// start -> b (reverse), a+b -> join (aggregator) -> end.
func parallelFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("start").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("a").Apply("upper", faasflow.Query("mode", "shout & more"), faasflow.Header("X-Extra", "1"))
	dag.Node("b").Modify(func(d []byte) ([]byte, error) {
		r := []byte(string(d))
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return r, nil
	})
	dag.Node("join", faasflow.Aggregator(func(in map[string][]byte) ([]byte, error) {
		return []byte(string(in["a"]) + "+" + string(in["b"])), nil
	}))
	dag.Node("end").Modify(func(d []byte) ([]byte, error) { return append(d, '!'), nil })
	dag.Edge("start", "a")
	dag.Edge("start", "b")
	dag.Edge("a", "join")
	dag.Edge("b", "join")
	dag.Edge("join", "end")
	return nil
}

func failingFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("b").Modify(func([]byte) ([]byte, error) { return nil, errors.New("input rejected") })
	dag.Edge("a", "b")
	return nil
}

func panickingFlow(flow *faasflow.Workflow, _ *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("a").Modify(func(d []byte) ([]byte, error) { return d, nil })
	dag.Node("b").Modify(func([]byte) ([]byte, error) { panic("user bug") })
	dag.Edge("a", "b")
	return nil
}

type flowEnv struct {
	base string
	gw   *fakegateway.Gateway
	srv  *runtime.Server
}

// startFlow serves define in process behind a fakeGateway, on memory
// stores, with env overriding the test defaults.
func startFlow(t testing.TB, define faasflow.DefineFunc, env map[string]string, opts ...runtime.Option) *flowEnv {
	t.Helper()
	return startFlowWithSecrets(t, define, env, map[string]string{"faasflow-hmac-secret": testKey}, opts...)
}

// startFlowWithSecrets is startFlow with the given secrets (nil: read the
// files in env's secret_mount_path).
func startFlowWithSecrets(t testing.TB, define faasflow.DefineFunc, env map[string]string, secrets map[string]string, opts ...runtime.Option) *flowEnv {
	t.Helper()
	gw := fakegateway.New(t, "testflow")
	gw.Function("upper", func(r *http.Request, body []byte) (int, []byte) {
		if r.URL.Query().Get("mode") != "shout & more" || r.Header.Get("X-Extra") != "1" || r.Method != http.MethodPost {
			return http.StatusBadRequest, []byte("bad call " + r.URL.String())
		}
		return http.StatusOK, bytes.ToUpper(body)
	})
	e := map[string]string{
		"flow_name": "testflow", "gateway": gw.URL(), "state_store": "memory", "data_store": "memory",
		"healthcheck_interval": "0", "write_timeout": "20s",
		// The tests that prove the control routes' login set it back to
		// basic.
		"control_auth": "none",
	}
	for k, v := range env {
		e[k] = v
	}
	var sr runtime.SecretReader = runtime.MapSecrets(secrets)
	if dir := e["secret_mount_path"]; dir != "" {
		for k, v := range secrets {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sr = nil
	}
	cfg, err := runtime.LoadConfig(envOf(e), sr)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]runtime.Option{runtime.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	srv, err := runtime.NewServer(cfg, define, opts...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		gw.Drain()
		hs.Close()
		_ = srv.Close(t.Context())
	})
	gw.SetFlowURL(hs.URL)
	return &flowEnv{base: hs.URL, gw: gw, srv: srv}
}

func TestSyncFlowAnswersWithItsResult(t *testing.T) {
	f := startFlow(t, syncFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("world"))
	if r.Status != 200 || string(r.Body) != "Hello world" {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	if r.Header.Get(runtime.HeaderRequestID) == "" {
		t.Fatal("no request id header")
	}
	r = fakegateway.Do(t, http.MethodGet, f.base+"/", nil, runtime.HeaderRequestID, "my-id-1")
	if r.Status != 200 || r.Header.Get(runtime.HeaderRequestID) != "my-id-1" {
		t.Fatalf("caller id: %d %v", r.Status, r.Header)
	}
	for _, path := range []string{"/flow/x/state", "/flow/x/result"} {
		if r := fakegateway.Do(t, http.MethodGet, f.base+path, nil); r.Status != 404 {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/x/forward", []byte("{}")); r.Status != 404 {
		t.Errorf("forward on a sync flow: %d", r.Status)
	}
}

func TestSyncFlowNeedsNoSecretNoFlowNameNoStores(t *testing.T) {
	cfg, err := runtime.LoadConfig(envOf(map[string]string{"gateway": "127.0.0.1:1"}), runtime.MapSecrets{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := runtime.NewServer(cfg, syncFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("sync flow with default config (etcd, minio unreachable, no secret): %v", err)
	}
	_ = srv.Close(t.Context())
}

func TestNewServerRefusesMultiNodeFlowsWithoutSecretOrName(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		secrets runtime.MapSecrets
		want    string
	}{
		{"no secret", map[string]string{"flow_name": "f"}, runtime.MapSecrets{}, "faasflow-hmac-secret"},
		{"no flow name", map[string]string{}, runtime.MapSecrets{"faasflow-hmac-secret": "k"}, "flow_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["state_store"], tc.env["data_store"] = "memory", "memory"
			cfg, err := runtime.LoadConfig(envOf(tc.env), tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			_, err = runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
			if !errors.Is(err, runtime.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	t.Run("insecure mode starts", func(t *testing.T) {
		cfg, err := runtime.LoadConfig(envOf(map[string]string{"flow_name": "f", "faasflow_insecure_hops": "true", "state_store": "memory", "data_store": "memory"}), runtime.MapSecrets{})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.Close(t.Context())
	})
	t.Run("invalid definition is refused", func(t *testing.T) {
		cfg, _ := runtime.LoadConfig(envOf(map[string]string{"flow_name": "f"}), runtime.MapSecrets{})
		_, err := runtime.NewServer(cfg, func(flow *faasflow.Workflow, _ *faasflow.Context) error {
			flow.Dag().Edge("a", "b")
			return nil
		}, runtime.WithLogger(slog.New(slog.DiscardHandler)))
		if !errors.Is(err, faasflow.ErrInvalidDefinition) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMultiNodeFlowAcceptsThenRunsToCompletion(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("abc"))
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	id, _ := m["request_id"].(string)
	if id == "" || r.Header.Get(runtime.HeaderRequestID) != id {
		t.Fatalf("no request id: %v %v", m, r.Header)
	}
	if m["state_url"] != f.gw.URL()+"/function/testflow/flow/"+id+"/state" || m["state_path"] != "/flow/"+id+"/state" {
		t.Fatalf("links: %v", m)
	}
	st := fakegateway.WaitState(t, f.base, id, "succeeded")
	nodes, _ := st["nodes"].(map[string]any)
	if len(nodes) != 5 {
		t.Fatalf("node statuses: %v", st)
	}
	res := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/result", nil)
	if res.Status != 200 || string(res.Body) != "ABC+cba!" {
		t.Fatalf("result %d %q", res.Status, res.Body)
	}
	for _, s := range f.gw.Statuses() {
		if s != 200 {
			t.Fatalf("a hop was answered %d; statuses %v", s, f.gw.Statuses())
		}
	}
}

func TestWaitReturnsTheResultOfAMultiNodeFlow(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	for _, how := range []struct{ url, Header string }{
		{f.base + "/?wait=10s", ""},
		{f.base + "/", "10"},
	} {
		var r fakegateway.Result
		if how.Header != "" {
			r = fakegateway.Do(t, http.MethodPost, how.url, []byte("xy"), runtime.HeaderWait, how.Header)
		} else {
			r = fakegateway.Do(t, http.MethodPost, how.url, []byte("xy"))
		}
		if r.Status != 200 || string(r.Body) != "XY+yx!" {
			t.Fatalf("%v: %d %q", how, r.Status, r.Body)
		}
		if r.Header.Get(runtime.HeaderState) != "succeeded" {
			t.Fatalf("state header %v", r.Header)
		}
	}
}

// TestWaitAnswersWithWhatTheEndingHopWrote: ?wait answers with the result
// and record the hop that ended the request handed over, without reading
// them back (the store here fails every read of the record from then on).
func TestWaitAnswersWithWhatTheEndingHopWrote(t *testing.T) {
	st := &endedState{Store: statememory.New()}
	f := startFlow(t, parallelFlow, nil,
		runtime.WithStateStore(func() (faasflow.StateStore, error) { return st, nil }))
	f.gw.SetHold(true)
	got := make(chan fakegateway.Result, 1)
	go func() { got <- fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("xy")) }()
	// Once the first hops are held, the next read of the record is the
	// wait's, registered: only then may the request end.
	var held []fakegateway.HeldHop
	waitFor(t, func() bool { held = append(held, f.gw.TakeHeld()...); return len(held) > 0 })
	before := st.reads.Load()
	waitFor(t, func() bool { return st.reads.Load() > before })
	f.gw.SetHold(false)
	for _, h := range held {
		f.gw.Deliver(h.ID, h.Body)
	}
	r := <-got
	if r.Status != 200 || string(r.Body) != "XY+yx!" || r.Header.Get(runtime.HeaderState) != "succeeded" {
		t.Fatalf("%d %q %v", r.Status, r.Body, r.Header)
	}
	if !st.ended.Load() {
		t.Fatal("the request's end was never written")
	}
}

func TestWaitTimesOutWith202(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	f.gw.SetHold(true)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=100ms", []byte("x"))
	if r.Status != http.StatusAccepted || r.JSON(t)["state"] != "running" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=soon", []byte("x")); r.Status != 400 {
		t.Fatalf("bad wait: %d", r.Status)
	}
}

func TestFailedFlowIs422WithTheNodeError(t *testing.T) {
	f := startFlow(t, failingFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("x"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if !strings.Contains(m["error"].(string), "input rejected") || m["request_id"] == "" || m["state"] != "failed" {
		t.Fatalf("error body %v", m)
	}
	id := m["request_id"].(string)
	res := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/result", nil)
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(string(res.Body), "input rejected") {
		t.Fatalf("result of failed request: %d %s", res.Status, res.Body)
	}
	st := fakegateway.WaitState(t, f.base, id, "failed")
	if !strings.Contains(st["error"].(string), "input rejected") {
		t.Fatalf("state %v", st)
	}
}

func TestFailedFlowAnswerCarriesTheOnFailureResult(t *testing.T) {
	define := func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		if err := failingFlow(flow, ctx); err != nil {
			return err
		}
		flow.OnFailure(func(err error) ([]byte, error) { return []byte("compensated"), nil })
		return nil
	}
	f := startFlow(t, define, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("x"))
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if m := r.JSON(t); m["result"] != "compensated" || !strings.Contains(m["error"].(string), "input rejected") {
		t.Fatalf("error body %v", m)
	}
}

func TestPanicInUserCodeFailsOnlyThatRequest(t *testing.T) {
	f := startFlow(t, panickingFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("x"))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "user bug") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/_/health", nil); r.Status != 200 {
		t.Fatalf("server unhealthy after a user panic: %d", r.Status)
	}
}

func TestCallerSuppliedRequestID(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("q"), runtime.HeaderRequestID, "order-42")
	if r.Status != 200 || r.Header.Get(runtime.HeaderRequestID) != "order-42" {
		t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("q"), runtime.HeaderRequestID, "order-42"); r.Status != http.StatusConflict {
		t.Fatalf("reused id: %d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("q"), runtime.HeaderRequestID, "a/b c"); r.Status != http.StatusBadRequest {
		t.Fatalf("bad id: %d %s", r.Status, r.Body)
	}
}

func TestCompletionCallbackIsSigned(t *testing.T) {
	cb := fakegateway.NewCallbackReceiver(t, 1)
	f := startFlow(t, parallelFlow, nil)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("cb"), runtime.HeaderCallbackURL, cb.URL()+"/done?token=1")
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["request_id"].(string)
	got := cb.Wait(t)
	if string(got.Body) != "CB+bc!" || got.Header.Get(runtime.HeaderRequestID) != id || got.Header.Get(runtime.HeaderState) != "succeeded" {
		t.Fatalf("callback %q %v", got.Body, got.Header)
	}
	if err := runtime.VerifyCallback([]byte(testKey), got.Header.Get(runtime.HeaderSignature), id, "succeeded", got.Body, time.Now(), runtime.CallbackWindow); err != nil {
		t.Fatalf("signature %q: %v", got.Header.Get(runtime.HeaderSignature), err)
	}
	// The body-only signature of earlier versions is still there.
	m := hmac.New(sha256.New, []byte(testKey))
	m.Write(got.Body)
	if sig := got.Header.Get(runtime.HeaderBodySignature); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("body signature %q", sig)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", nil, runtime.HeaderCallbackURL, "not a url"); r.Status != 400 {
		t.Fatalf("bad callback url: %d", r.Status)
	}
}

func TestPauseResumeStopAndLegacyQueryControls(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	f.gw.SetHold(true)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("p"))
	id := r.JSON(t)["request_id"].(string)
	held := f.gw.TakeHeld()
	if len(held) != 2 {
		t.Fatalf("held %d hops, want 2 (a and b)", len(held))
	}

	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/pause", nil); r.Status != 200 || r.JSON(t)["state"] != "paused" {
		t.Fatalf("pause: %d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/?state="+id, nil); r.Status != 200 || r.JSON(t)["state"] != "paused" {
		t.Fatalf("?state: %d %s", r.Status, r.Body)
	}
	// Hops arriving while paused are parked, not run.
	for _, h := range held {
		if s := f.gw.Deliver(h.ID, h.Body); s != 200 {
			t.Fatalf("parked hop answered %d", s)
		}
	}
	st := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil).JSON(t)
	for name, n := range st["nodes"].(map[string]any) {
		if s := n.(map[string]any)["status"]; name != "start" && s != "pending" {
			t.Fatalf("node %s ran while paused: %v", name, st)
		}
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/result", nil); r.Status != http.StatusConflict {
		t.Fatalf("result while paused: %d", r.Status)
	}

	f.gw.SetHold(false)
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/?resume-flow="+id, nil); r.Status != 200 || r.JSON(t)["state"] != "running" {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	fakegateway.WaitState(t, f.base, id, "succeeded")
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/pause", nil); r.Status != http.StatusConflict {
		t.Fatalf("pause of a finished request: %d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/?stop-flow="+id, nil); r.Status != http.StatusConflict {
		t.Fatalf("stop of a finished request: %d %s", r.Status, r.Body)
	}

	// Stop a running request.
	f.gw.SetHold(true)
	id2 := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("s")).JSON(t)["request_id"].(string)
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/?pause-flow="+id2, nil); r.Status != 200 {
		t.Fatalf("?pause-flow: %d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id2+"/stop", nil); r.Status != 200 || r.JSON(t)["state"] != "stopped" {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id2+"/result", nil); r.Status != http.StatusConflict {
		t.Fatalf("result of a stopped request: %d %s", r.Status, r.Body)
	}
	// Its held hops now hit a stopped request: done (200), so that a
	// queue does not retry them.
	for _, h := range f.gw.TakeHeld() {
		if s := f.gw.Deliver(h.ID, h.Body); s != http.StatusOK {
			t.Fatalf("hop of a stopped request answered %d", s)
		}
	}

	for _, path := range []string{"/flow/nope/state", "/flow/nope/result", "/?state=nope"} {
		if r := fakegateway.Do(t, http.MethodGet, f.base+path, nil); r.Status != 404 || r.JSON(t)["request_id"] != "nope" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/flow/nope/pause", "/flow/nope/resume", "/flow/nope/stop", "/?stop-flow=nope"} {
		if r := fakegateway.Do(t, http.MethodPost, f.base+path, nil); r.Status != 404 {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}

func TestForwardRejectsForgedMalformedAndReplayedHops(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	f.gw.SetHold(true)
	id := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("t")).JSON(t)["request_id"].(string)
	held := f.gw.TakeHeld()
	if len(held) != 2 {
		t.Fatalf("held %d hops", len(held))
	}
	hop := held[0].Body
	before := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil).Body

	var sealed map[string]json.RawMessage
	if err := json.Unmarshal(hop, &sealed); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(hop, []byte(`"data":"`), []byte(`"data":"AAAA`), 1)
	if bytes.Equal(tampered, hop) {
		t.Fatalf("hop has no inline data to tamper with: %s", hop)
	}
	unsigned := bytes.Replace(hop, sealed["sig"], []byte(`""`), 1)
	wrongKey := bytes.Replace(hop, sealed["sig"], []byte(`"sha256=`+strings.Repeat("0", 64)+`"`), 1)
	cases := []struct {
		name   string
		path   string
		Body   []byte
		Status int
	}{
		{"tampered data", id, tampered, 401},
		{"unsigned", id, unsigned, 401},
		{"wrong signature", id, wrongKey, 401},
		{"not JSON", id, []byte("{nope"), 400},
		{"empty", id, nil, 400},
		{"future version", id, []byte(`{"v":99,"sig":"x","hop":{}}`), 400},
		{"posted under another request", "someone-else", hop, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+tc.path+"/forward", tc.Body)
			if r.Status != tc.Status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.Status, r.Body)
			}
			if r.JSON(t)["error"] == "" {
				t.Fatal("no error message")
			}
		})
	}
	if after := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/state", nil).Body; !bytes.Equal(before, after) {
		t.Fatalf("rejected hops changed the request:\nbefore %s\nafter  %s", before, after)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/forward", nil); r.Status != 405 {
		t.Fatalf("GET forward: %d", r.Status)
	}

	// The genuine hops still work, and the request finishes.
	f.gw.SetHold(false)
	for _, h := range held {
		if s := f.gw.Deliver(h.ID, h.Body); s != 200 {
			t.Fatalf("genuine hop answered %d", s)
		}
	}
	fakegateway.WaitState(t, f.base, id, "succeeded")
	// Replaying a hop of the finished request is done without effect (a
	// queue must not count it as a failed delivery and retry it).
	r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/"+id+"/forward", hop)
	if r.Status != http.StatusOK {
		t.Fatalf("replayed hop: %d %s", r.Status, r.Body)
	}
	if want := `{"request_id":"` + id + `","status":"done"}` + "\n"; string(r.Body) != want || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("a taken hop's answer: %q (%s), want %q", r.Body, r.Header.Get("Content-Type"), want)
	}
	if res := fakegateway.Do(t, http.MethodGet, f.base+"/flow/"+id+"/result", nil); string(res.Body) != "T+t!" {
		t.Fatalf("result after replay %q", res.Body)
	}
}

func TestDAGExports(t *testing.T) {
	f := startFlow(t, parallelFlow, nil)
	r := fakegateway.Do(t, http.MethodGet, f.base+"/?export-dag=true", nil)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	for _, k := range []string{"id", "start-node", "end-node", "has-branch", "has-edge", "exec-only-dag", "nodes", "is-valid"} {
		if _, ok := m[k]; !ok {
			t.Errorf("export-dag lacks %q: %s", k, r.Body)
		}
	}
	if m["start-node"] != "start" || m["end-node"] != "end" || m["is-valid"] != true {
		t.Fatalf("export %v", m)
	}
	join := m["nodes"].(map[string]any)["join"].(map[string]any)
	if join["has-aggregator"] != true || join["in-degree"].(float64) != 2 {
		t.Fatalf("join %v", join)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/?dag=json", nil); r.Status != 200 || r.JSON(t)["start-node"] != "start" {
		t.Fatalf("dag=json %d", r.Status)
	}
	dot := fakegateway.Do(t, http.MethodGet, f.base+"/?dag=dot", nil)
	if dot.Status != 200 || !strings.HasPrefix(string(dot.Body), `digraph "testflow" {`) || !strings.Contains(string(dot.Body), `"a" -> "join";`) {
		t.Fatalf("dot: %s", dot.Body)
	}
	mm := fakegateway.Do(t, http.MethodGet, f.base+"/?dag=mermaid", nil)
	if mm.Status != 200 || !strings.HasPrefix(string(mm.Body), "flowchart TD") {
		t.Fatalf("mermaid: %s", mm.Body)
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/?dag=svg", nil); r.Status != 400 {
		t.Fatalf("unknown format: %d", r.Status)
	}
}

func TestRoutesHealthAndErrorsAreJSON(t *testing.T) {
	f := startFlow(t, parallelFlow, map[string]string{"max_body_size": "1KiB"})
	for _, p := range []string{"/_/health", "/healthz"} {
		if r := fakegateway.Do(t, http.MethodGet, f.base+p, nil); r.Status != 200 || string(r.Body) != "OK" {
			t.Errorf("%s: %d %q", p, r.Status, r.Body)
		}
	}
	cases := []struct {
		method, path string
		Body         []byte
		Status       int
	}{
		{http.MethodGet, "/nowhere", nil, 404},
		{http.MethodGet, "/flow/x", nil, 404},
		{http.MethodGet, "/flow/x/explode", nil, 404},
		{http.MethodDelete, "/", nil, 405},
		{http.MethodGet, "/flow/x/pause", nil, 405},
		{http.MethodPost, "/", bytes.Repeat([]byte("x"), 2048), 413},
		{http.MethodPost, "/flow/x/forward", bytes.Repeat([]byte("x"), 2048), 413},
	}
	for _, tc := range cases {
		r := fakegateway.Do(t, tc.method, f.base+tc.path, tc.Body)
		if r.Status != tc.Status {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, r.Status, tc.Status, r.Body)
			continue
		}
		if m := r.JSON(t); m["error"] == "" || m["status"].(float64) != float64(tc.Status) {
			t.Errorf("%s %s: body %s", tc.method, tc.path, r.Body)
		}
	}
}

func TestDrainingServerFailsHealthChecks(t *testing.T) {
	cfg, _ := runtime.LoadConfig(envOf(map[string]string{"healthcheck_interval": "300ms"}), runtime.MapSecrets{})
	srv, err := runtime.NewServer(cfg, syncFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	if r := fakegateway.Do(t, http.MethodGet, base+"/_/health", nil); r.Status != 200 {
		t.Fatalf("health %d", r.Status)
	}
	cancel()
	waitFor(t, func() bool { return fakegateway.Do(t, http.MethodGet, base+"/_/health", nil).Status == 503 })
	if r := fakegateway.Do(t, http.MethodPost, base+"/", []byte("still")); r.Status != 200 {
		t.Fatalf("request during the grace period: %d", r.Status)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeExpiresTheDataOfAbandonedRequests(t *testing.T) {
	ctx0 := context.Background()
	dir := t.TempDir()
	data, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"w/testflow/abandoned/h/x", "w/testflow/running/h/x"} {
		if err := data.Put(ctx0, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-26 * time.Hour) // request_ttl 24h, plus the hour of margin, has passed
	err = filepath.WalkDir(filepath.Join(dir, "w", "testflow", "abandoned"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := runtime.LoadConfig(envOf(map[string]string{"flow_name": "testflow", "data_store": "local", "data_dir": dir,
		"state_store": "memory", "gateway": "http://127.0.0.1:1", "healthcheck_interval": "10ms"}), runtime.MapSecrets{"faasflow-hmac-secret": testKey})
	if err != nil {
		t.Fatal(err)
	}
	twoNodes := func(flow *faasflow.Workflow, _ *faasflow.Context) error {
		dag := flow.Dag()
		dag.Node("a").Modify(func(d []byte) ([]byte, error) { return d, nil })
		dag.Node("b").Modify(func(d []byte) ([]byte, error) { return d, nil })
		dag.Edge("a", "b")
		return nil
	}
	srv, err := runtime.NewServer(cfg, twoNodes, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, listen(t)) }()
	waitFor(t, func() bool {
		_, err := data.Get(ctx0, "w/testflow/abandoned/h/x")
		return errors.Is(err, faasflow.ErrNotFound)
	})
	if _, err := data.Get(ctx0, "w/testflow/running/h/x"); err != nil {
		t.Fatalf("a young request's data was removed: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestAuthenticateRequest(t *testing.T) {
	f := startFlow(t, syncFlow, map[string]string{"authenticate_request": "true"})
	body := []byte("signed")
	m := hmac.New(sha256.New, []byte(testKey))
	m.Write(body)
	good := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", body); r.Status != 401 {
		t.Fatalf("unsigned: %d", r.Status)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", body, "X-Hub-Signature", "sha256=00"); r.Status != 401 {
		t.Fatalf("wrong: %d", r.Status)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", body, "X-Hub-Signature", good); r.Status != 200 || string(r.Body) != "Hello signed" {
		t.Fatalf("signed: %d %s", r.Status, r.Body)
	}
}

func TestStoreOverridesWin(t *testing.T) {
	var calls atomic.Int32
	st := newCountingState()
	f := startFlow(t, parallelFlow, map[string]string{"state_store": "etcd", "etcd_endpoints": "127.0.0.1:1"},
		runtime.WithStateStore(func() (faasflow.StateStore, error) { calls.Add(1); return st, nil }),
		runtime.WithDataStore(func() (faasflow.DataStore, error) { return nil, nil }), // keep configured (memory)
	)
	r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("o"))
	if r.Status != 200 || string(r.Body) != "O+o!" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if calls.Load() != 1 || st.creates.Load() == 0 {
		t.Fatalf("override called %d times, used %d times", calls.Load(), st.creates.Load())
	}

	cfg, _ := runtime.LoadConfig(envOf(map[string]string{"flow_name": "f", "state_store": "memory", "data_store": "memory"}), runtime.MapSecrets{"faasflow-hmac-secret": "k"})
	_, err := runtime.NewServer(cfg, parallelFlow, runtime.WithLogger(slog.New(slog.DiscardHandler)),
		runtime.WithDataStore(func() (faasflow.DataStore, error) { return nil, fmt.Errorf("no bucket") }))
	if !errors.Is(err, runtime.ErrStoreConfig) || !strings.Contains(err.Error(), "no bucket") {
		t.Fatalf("failing override: %v", err)
	}
}

func TestObserverAndMetricsHooks(t *testing.T) {
	obs := &countingObserver{}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "flows_total 1\n") })
	f := startFlow(t, parallelFlow, nil, runtime.WithObserver(obs), runtime.WithMetrics(metrics))
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/?wait=10s", []byte("m")); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if obs.nodes.Load() != 5 || obs.ended.Load() != 1 {
		t.Fatalf("observer saw %d nodes, %d request ends", obs.nodes.Load(), obs.ended.Load())
	}
	if r := fakegateway.Do(t, http.MethodGet, f.base+"/metrics", nil); r.Status != 200 || string(r.Body) != "flows_total 1\n" {
		t.Fatalf("metrics %d %s", r.Status, r.Body)
	}
}

func TestPanicInAHandlerIsA500ForThatRequestOnly(t *testing.T) {
	f := startFlow(t, syncFlow, nil, runtime.WithMetrics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("metrics bug") })))
	r := fakegateway.Do(t, http.MethodGet, f.base+"/metrics", nil)
	if r.Status != 500 || !strings.Contains(r.JSON(t)["error"].(string), "metrics bug") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("after")); r.Status != 200 || string(r.Body) != "Hello after" {
		t.Fatalf("server broken after a panic: %d %s", r.Status, r.Body)
	}
}
