package templatetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/builder"
	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
)

// The tests in this file build flow functions from template/faas-flow the
// way its Dockerfile does (faas-cli's build context, a local replace of the
// SDK, go generate, go test, go build), start the binaries on 127.0.0.1 and
// drive them over HTTP behind a fake gateway.

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := builder.FindSDKDir(".")
	if err != nil || root == "" {
		t.Fatalf("cannot find the faas-flow module root: %q %v", root, err)
	}
	return root
}

// goEnv is the environment of the build steps: offline (module cache
// only), static, no workspace.
func goEnv() []string {
	env := []string{"GOWORK=off", "GOFLAGS=", "GOPROXY=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOFLAGS", "GOPROXY", "CGO_ENABLED", "GOTOOLCHAIN":
		default:
			env = append(env, kv)
		}
	}
	return env
}

func runIn(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, goEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// buildLikeDockerfile shrink-wraps the template with handlerDir and runs
// the Dockerfile's build steps. It returns the binary and the context.
func buildLikeDockerfile(t testing.TB, handlerDir string) (string, string) {
	t.Helper()
	ctxDir, failed := runDockerfileSteps(t, "faas-flow", filepath.Join(repoRoot(t), "template", "faas-flow"), handlerDir)
	if failed != "" {
		t.Fatal(failed)
	}
	return filepath.Join(ctxDir, "handler"), ctxDir
}

// runDockerfileSteps shrink-wraps the template of lang with handlerDir and
// runs the Dockerfile's steps, in order, in the context alone: the SDK
// comes from the template's copy, third-party modules from the module
// cache (the proxy is off), and nothing points at this checkout. It
// returns the context, or the output of the step that failed.
func runDockerfileSteps(t testing.TB, lang, templateDir, handlerDir string) (ctxDir, failed string) {
	t.Helper()
	ctxDir, err := builder.Shrinkwrap(builder.Spec{Name: "flow", Lang: lang, TemplateDir: templateDir, HandlerDir: handlerDir, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(ctxDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := builder.DockerfileSteps(df, goruntime.GOOS, goruntime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		cmd := exec.Command("sh", "-c", st.Command)
		cmd.Dir, cmd.Env = filepath.Join(ctxDir, st.Dir), append(goEnv(), st.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return ctxDir, fmt.Sprintf("Dockerfile step %q: %v\n%s", st.Command, err, out)
		}
	}
	if strings.Contains(readGoMod(t, ctxDir), repoRoot(t)) {
		t.Fatal("the build context points at this checkout")
	}
	return ctxDir, ""
}

func readGoMod(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flowProcess is a flow function binary running on 127.0.0.1.
type flowProcess struct {
	base   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (p *flowProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *flowProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func startBinary(t testing.TB, bin string, env map[string]string) *flowProcess {
	t.Helper()
	ln := listen(t.(*testing.T))
	addr := ln.Addr().String()
	ln.Close()
	p := &flowProcess{base: "http://" + addr, done: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(), "listen_addr=" + addr}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("flow function did not exit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("flow function did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("flow function log:\n%s", p.logs())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/_/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("flow function exited: %v\n%s", err, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow function not healthy after 20s:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTemplateSyncChainBuildsWithTheBuilderAndServes(t *testing.T) {
	root := repoRoot(t)
	gw := fakegateway.New(t, "hello")
	gw.Function("upper", func(r *http.Request, body []byte) (int, []byte) {
		if r.Method != http.MethodPut || r.URL.Query().Get("lang") != "en" {
			return 400, []byte("want PUT ?lang=en, got " + r.Method + " " + r.URL.String())
		}
		return 200, bytes.ToUpper(body)
	})
	// The gateway's builder (package build), as `faasflow up` uses it: like
	// the Dockerfile it runs go generate, so handler store functions are
	// wired and the runtime does not warn.
	bin, err := builder.Function(context.Background(), builder.Spec{
		Name: "hello", Lang: "faas-flow", TemplateDir: filepath.Join(root, "template"),
		HandlerDir: filepath.Join("testdata", "syncflow"), SDKDir: root, OutDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, bin, map[string]string{"gateway": gw.URL(), "healthcheck_interval": "0"})
	r := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("flow"))
	if r.Status != 200 || string(r.Body) != "HELLO FLOW!" || r.Header.Get(runtime.HeaderRequestID) == "" {
		t.Fatalf("%d %v %q", r.Status, r.Header, r.Body)
	}
	if strings.Contains(p.logs(), "did not run `go generate`") {
		t.Fatalf("the builder skipped the template's go generate step:\n%s", p.logs())
	}
	if r := fakegateway.Do(t, http.MethodGet, p.base+"/?export-dag=true", nil); r.Status != 200 || r.JSON(t)["start-node"] != "sync" {
		t.Fatalf("export-dag: %d %s", r.Status, r.Body)
	}
}

func TestTemplateDAGFlowEndToEnd(t *testing.T) {
	bin, ctxDir := buildLikeDockerfile(t, filepath.Join("testdata", "dagflow"))
	gen, err := os.ReadFile(filepath.Join(ctxDir, "zz_stores.go"))
	if err != nil || !strings.Contains(string(gen), "function.DefineDataStore()") {
		t.Fatalf("go generate did not wire DefineDataStore: %v\n%s", err, gen)
	}

	gw := fakegateway.New(t, "words")
	gw.Function("upper", func(r *http.Request, body []byte) (int, []byte) {
		if r.URL.Query().Get("lang") != "en" || r.Header.Get("X-Mode") != "loud" {
			return 400, []byte("missing query or header")
		}
		return 200, bytes.ToUpper(body)
	})
	gw.Function("reverse", func(_ *http.Request, body []byte) (int, []byte) {
		r := []rune(string(body))
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return 200, []byte(string(r))
	})
	key := "e2e-secret-key"
	p := startBinary(t, bin, map[string]string{
		"flow_name":            "words",
		"gateway":              gw.URL(),
		"secret_mount_path":    fakegateway.SecretDir(t, map[string]string{"faasflow-hmac-secret": key}),
		"state_store":          "etcd",
		"etcd_endpoints":       strings.Join(testenv.Etcd(t), ","),
		"etcd_key_prefix":      "e2e-" + fmt.Sprint(time.Now().UnixNano()) + "/",
		"data_store":           "minio", // replaced by the handler's DefineDataStore
		"healthcheck_interval": "0",
		"write_timeout":        "20s",
		// The login of the control routes is proven in package runtime.
		"control_auth": "none",
	})
	gw.SetFlowURL(p.base)
	const want = "HELLO WORLD|2|short;olleh,dlrow;override=true"

	t.Run("start, poll state, read result", func(t *testing.T) {
		r := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("hello world"))
		if r.Status != http.StatusAccepted {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		id := r.JSON(t)["request_id"].(string)
		st := fakegateway.WaitState(t, p.base, id, "succeeded")
		if n := len(st["nodes"].(map[string]any)); n < 10 {
			t.Fatalf("only %d node statuses: %v", n, st)
		}
		res := fakegateway.Do(t, http.MethodGet, p.base+"/flow/"+id+"/result", nil)
		if res.Status != 200 || string(res.Body) != want {
			t.Fatalf("result %d %q", res.Status, res.Body)
		}
	})

	t.Run("wait returns the final result", func(t *testing.T) {
		r := fakegateway.Do(t, http.MethodPost, p.base+"/?wait=15s", []byte("hello world"), runtime.HeaderRequestID, "e2e-wait-1")
		if r.Status != 200 || string(r.Body) != want || r.Header.Get(runtime.HeaderRequestID) != "e2e-wait-1" {
			t.Fatalf("%d %v %q", r.Status, r.Header, r.Body)
		}
		long := fakegateway.Do(t, http.MethodPost, p.base+"/?wait=15s", []byte("a much longer sentence"))
		if long.Status != 200 || !strings.HasPrefix(string(long.Body), "A MUCH LONGER SENTENCE|4|long;a,hcum,regnol,ecnetnes;") {
			t.Fatalf("long: %d %q", long.Status, long.Body)
		}
	})

	t.Run("signed completion callback", func(t *testing.T) {
		cb := fakegateway.NewCallbackReceiver(t, 0)
		r := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("hello world"), runtime.HeaderCallbackURL, cb.URL())
		id := r.JSON(t)["request_id"].(string)
		got := cb.Wait(t)
		if string(got.Body) != want || got.Header.Get(runtime.HeaderRequestID) != id || got.Header.Get(runtime.HeaderState) != "succeeded" {
			t.Fatalf("callback %q %v", got.Body, got.Header)
		}
		if runtime.VerifyCallback([]byte(key), got.Header.Get(runtime.HeaderSignature), id, "succeeded", got.Body, time.Now(), runtime.CallbackWindow) != nil {
			t.Fatalf("callback signature %q does not verify", got.Header.Get(runtime.HeaderSignature))
		}
	})

	t.Run("tampered, unsigned and replayed hops", func(t *testing.T) {
		gw.SetHold(true)
		id := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("hello world")).JSON(t)["request_id"].(string)
		held := gw.TakeHeld()
		if len(held) != 2 {
			t.Fatalf("held %d hops, want 2", len(held))
		}
		before := fakegateway.Do(t, http.MethodGet, p.base+"/flow/"+id+"/state", nil).Body
		hop := held[0].Body
		var sealed map[string]json.RawMessage
		if err := json.Unmarshal(hop, &sealed); err != nil {
			t.Fatal(err)
		}
		tampered := bytes.Replace(hop, []byte(`"data":"`), []byte(`"data":"SGFjaw`), 1)
		unsigned := bytes.Replace(hop, sealed["sig"], []byte(`""`), 1)
		for name, body := range map[string][]byte{"tampered": tampered, "unsigned": unsigned} {
			r := fakegateway.Do(t, http.MethodPost, p.base+"/flow/"+id+"/forward", body)
			if r.Status != 401 {
				t.Fatalf("%s hop: %d %s", name, r.Status, r.Body)
			}
		}
		if after := fakegateway.Do(t, http.MethodGet, p.base+"/flow/"+id+"/state", nil).Body; !bytes.Equal(before, after) {
			t.Fatalf("rejected hops changed the state:\n%s\n%s", before, after)
		}
		gw.SetHold(false)
		for _, h := range held {
			if s := gw.Deliver(h.ID, h.Body); s != 200 {
				t.Fatalf("genuine hop: %d", s)
			}
		}
		fakegateway.WaitState(t, p.base, id, "succeeded")
		if r := fakegateway.Do(t, http.MethodPost, p.base+"/flow/"+id+"/forward", hop); r.Status != http.StatusOK {
			t.Fatalf("replayed hop of a finished request: %d %s, want 200 (done, nothing to retry)", r.Status, r.Body)
		}
	})

	t.Run("pause, resume, stop", func(t *testing.T) {
		gw.SetHold(true)
		id := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("hello world")).JSON(t)["request_id"].(string)
		if r := fakegateway.Do(t, http.MethodGet, p.base+"/?pause-flow="+id, nil); r.Status != 200 {
			t.Fatalf("pause: %d %s", r.Status, r.Body)
		}
		for _, h := range gw.TakeHeld() {
			if s := gw.Deliver(h.ID, h.Body); s != 200 {
				t.Fatalf("parked hop: %d", s)
			}
		}
		if r := fakegateway.Do(t, http.MethodGet, p.base+"/?state="+id, nil); r.JSON(t)["state"] != "paused" {
			t.Fatalf("state: %s", r.Body)
		}
		gw.SetHold(false)
		if r := fakegateway.Do(t, http.MethodPost, p.base+"/flow/"+id+"/resume", nil); r.Status != 200 {
			t.Fatalf("resume: %d %s", r.Status, r.Body)
		}
		fakegateway.WaitState(t, p.base, id, "succeeded")
		if r := fakegateway.Do(t, http.MethodPost, p.base+"/flow/"+id+"/stop", nil); r.Status != http.StatusConflict {
			t.Fatalf("stop of a finished request: %d", r.Status)
		}
		gw.SetHold(true)
		id2 := fakegateway.Do(t, http.MethodPost, p.base+"/", []byte("x y")).JSON(t)["request_id"].(string)
		if r := fakegateway.Do(t, http.MethodPost, p.base+"/?stop-flow="+id2, nil); r.Status != 200 {
			t.Fatalf("stop: %d %s", r.Status, r.Body)
		}
		for _, h := range gw.TakeHeld() {
			if s := gw.Deliver(h.ID, h.Body); s != http.StatusOK {
				t.Fatalf("hop of a stopped request: %d, want 200 (done, nothing to retry)", s)
			}
		}
		gw.SetHold(false)
		if r := fakegateway.Do(t, http.MethodGet, p.base+"/flow/"+id2+"/result", nil); r.Status != http.StatusConflict {
			t.Fatalf("result of a stopped request: %d", r.Status)
		}
	})

	t.Run("exports, health and errors", func(t *testing.T) {
		ex := fakegateway.Do(t, http.MethodGet, p.base+"/?export-dag=true", nil)
		if ex.Status != 200 || ex.JSON(t)["start-node"] != "split" {
			t.Fatalf("export-dag %d %s", ex.Status, ex.Body)
		}
		if r := fakegateway.Do(t, http.MethodGet, p.base+"/?dag=dot", nil); !strings.Contains(string(r.Body), `"split" -> "upper";`) {
			t.Fatalf("dot: %s", r.Body)
		}
		if r := fakegateway.Do(t, http.MethodGet, p.base+"/?dag=mermaid", nil); !strings.HasPrefix(string(r.Body), "flowchart TD") {
			t.Fatalf("mermaid: %s", r.Body)
		}
		for path, status := range map[string]int{"/healthz": 200, "/flow/unknown/state": 404, "/flow/unknown/result": 404, "/nope": 404} {
			if r := fakegateway.Do(t, http.MethodGet, p.base+path, nil); r.Status != status {
				t.Errorf("%s: %d, want %d", path, r.Status, status)
			}
		}
	})

	for _, s := range gw.Statuses() {
		if s != 200 && s != http.StatusConflict {
			t.Fatalf("a relayed hop was answered %d (all: %v)", s, gw.Statuses())
		}
	}
}

func TestTemplateFilesFollowTheConventions(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "template", "faas-flow")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	df := read("Dockerfile")
	for _, want := range []string{
		"ghcr.io/openfaas/of-watchdog:${WATCHDOG_VERSION} AS watchdog",
		"RUN go generate -mod=mod .",
		"go test -mod=mod handler/function/...",
		"go build -mod=mod -trimpath",
		"USER app",
		`fprocess="./handler"`,
		`mode="http"`,
		`upstream_url="http://127.0.0.1:8082"`,
		`listen_addr="127.0.0.1:8082"`,
		"exec_timeout=",
		"write_timeout=",
		"read_timeout=",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^ARG WATCHDOG_VERSION=\d+\.\d+\.\d+$`).MatchString(df) {
		t.Error("the of-watchdog version is not pinned")
	}
	// ENV key="value" only: faas-flow's Dockerfile had `ENV read_timeout: 120`.
	inEnv := false
	for _, line := range strings.Split(df, "\n") {
		t1 := strings.TrimSpace(line)
		if strings.HasPrefix(t1, "ENV ") {
			inEnv, t1 = true, strings.TrimPrefix(t1, "ENV ")
		}
		if !inEnv {
			continue
		}
		if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*="[^"]*"( \\)?$`).MatchString(t1) {
			t.Errorf("malformed ENV line %q", line)
		}
		inEnv = strings.HasSuffix(t1, `\`)
	}
	tpl := read("template.yml")
	for _, want := range []string{"language: faas-flow", "fprocess: ./handler", "faasflow-hmac-secret", "etcd", "s3_url"} {
		if !strings.Contains(tpl, want) {
			t.Errorf("template.yml lacks %q", want)
		}
	}
	for _, mod := range []string{"go.mod", filepath.Join("function", "go.mod")} {
		if !strings.Contains(read(mod), "github.com/faas-flow/faas-flow "+runtime.SDKVersion) {
			t.Errorf("%s does not require github.com/faas-flow/faas-flow %s", mod, runtime.SDKVersion)
		}
	}
	if main := read("main.go"); !strings.Contains(main, "runtime.Run(context.Background(), function.Define, storeOptions()...)") {
		t.Errorf("main.go does not wire runtime.Run to function.Define:\n%s", main)
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
