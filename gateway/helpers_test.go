package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/gatewaytest"
)

// buildCache is shared by every Local of this test binary so the worker
// function is compiled once per run.
var (
	buildCache string
	handlerDir string
	repoRoot   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildCache = filepath.Join(dir, "cache")
	handlerDir = filepath.Join(dir, "worker")
	if err := gatewaytest.WriteHandler(handlerDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if repoRoot, err = gatewaytest.Repo(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	sharedOnce sync.Once
	shared     *Local
	sharedErr  error
)

// sharedLocal is one stack (auth on) used by tests that deploy distinct names.
func sharedLocal(t *testing.T) *Local {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-shared-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = StartLocal(context.Background(), fastOptions(dir))
	})
	if sharedErr != nil {
		t.Fatalf("local gateway did not start: %v", sharedErr)
	}
	return shared
}

func fastOptions(stateDir string) LocalOptions {
	return LocalOptions{
		StateDir: stateDir, BuildCacheDir: buildCache, SDKDir: repoRoot,
		AckWait: 2 * time.Second, InitialRetryWait: 50 * time.Millisecond, MaxRetryWait: 500 * time.Millisecond,
		FunctionProcs: 1,
	}
}

func startLocal(t *testing.T, o LocalOptions) *Local {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	l, err := StartLocal(context.Background(), o)
	if err != nil {
		t.Fatalf("local gateway did not start: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type fnDef struct {
	name    string
	env     map[string]string
	secrets []string
	lang    string
	extra   string // raw YAML lines added to the function
}

// writeStack writes a stack file deploying the test worker under each name.
func writeStack(t *testing.T, fns ...fnDef) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\nfunctions:\n")
	for _, f := range fns {
		lang := f.lang
		if lang == "" {
			lang = "golang-middleware"
		}
		fmt.Fprintf(&b, "  %s:\n    lang: %s\n    handler: %s\n    image: %s:latest\n", f.name, lang, handlerDir, f.name)
		if len(f.env) > 0 {
			b.WriteString("    environment:\n")
			for k, v := range f.env {
				fmt.Fprintf(&b, "      %s: %q\n", k, v)
			}
		}
		if len(f.secrets) > 0 {
			fmt.Fprintf(&b, "    secrets: [%s]\n", strings.Join(f.secrets, ", "))
		}
		b.WriteString(f.extra)
	}
	p := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func deploy(t *testing.T, l *Local, fns ...fnDef) {
	t.Helper()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.Deploy(ctx, writeStack(t, fns...), &log); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log.String())
	}
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, body string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// sys calls a /system route with the Local's credentials.
func sys(t *testing.T, l *Local, method, path, body string) reply {
	t.Helper()
	u, p := l.Credentials()
	req, _ := http.NewRequest(method, l.URL()+path, strings.NewReader(body))
	if u != "" {
		req.SetBasicAuth(u, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

type callback struct {
	header http.Header
	body   string
}

func callbackServer(t *testing.T) (string, chan callback) {
	t.Helper()
	ch := make(chan callback, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- callback{r.Header.Clone(), string(b)}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/cb", ch
}

func waitCallback(t *testing.T, ch chan callback, d time.Duration) callback {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(d):
		t.Fatalf("no callback within %s", d)
	}
	return callback{}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
