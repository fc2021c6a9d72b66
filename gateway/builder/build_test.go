package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := FindSDKDir(".")
	if err != nil || dir == "" {
		t.Fatalf("FindSDKDir(.) = %q, %v; the tests run inside the faas-flow module", dir, err)
	}
	return dir
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShrinkwrapOverlaysHandlerOnTemplateLikeFaasCli(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "mylang")
	writeFiles(t, tmpl, map[string]string{
		"template.yml":                    "language: mylang\nfprocess: ./handler\n",
		"main.go":                         "package main\n",
		"function/handler.go":             "template version\n",
		"function/extra_template_only.go": "comes back\n",
	})
	handler := t.TempDir()
	writeFiles(t, handler, map[string]string{
		"handler.go":       "user version\n",
		"static/file.txt":  "static\n",
		"build/junk":       "skipped\n",
		"template/junk":    "skipped\n",
		"sub/build/nested": "kept: only top-level build is skipped\n",
	})
	out := t.TempDir()
	dir, err := Shrinkwrap(Spec{Name: "probe", Lang: "mylang", TemplateDir: filepath.Dir(tmpl), HandlerDir: handler, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"template.yml":                    "language: mylang\nfprocess: ./handler\n",
		"main.go":                         "package main\n",
		"function/handler.go":             "user version\n",
		"function/extra_template_only.go": "comes back\n",
		"function/static/file.txt":        "static\n",
		"function/sub/build/nested":       "kept: only top-level build is skipped\n",
	}
	for name, body := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != body {
			t.Errorf("%s = %q, %v; want %q", name, b, err, body)
		}
	}
	for _, gone := range []string{"function/build", "function/template"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s must not be copied", gone)
		}
	}
}

func TestFunctionBuildsGolangMiddlewareTemplateThatServes(t *testing.T) {
	root := repoRoot(t)
	tdir := filepath.Join(root, "template", "golang-middleware")
	handler := t.TempDir()
	writeFiles(t, handler, map[string]string{
		"go.mod":     "module handler/function\n\ngo 1.24\n",
		"handler.go": "package function\n\nimport (\n\t\"io\"\n\t\"net/http\"\n)\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {\n\tb, _ := io.ReadAll(r.Body)\n\tw.Write(append([]byte(\"echo:\"), b...))\n}\n",
	})
	var log bytes.Buffer
	bin, err := Function(context.Background(), Spec{Name: "echo", TemplateDir: tdir, HandlerDir: handler, OutDir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "listen_addr="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitHealthy(t, "http://"+addr+"/_/health")
	resp, err := http.Post("http://"+addr+"/any/path", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "echo:hi" {
		t.Fatalf("body = %q", b)
	}
}

func TestCompileFailureReportsCompilerOutput(t *testing.T) {
	root := repoRoot(t)
	handler := t.TempDir()
	writeFiles(t, handler, map[string]string{
		"handler.go": "package function\n\nfunc Handle() { undefinedThing() }\n",
	})
	_, err := Function(context.Background(), Spec{Name: "broken", TemplateDir: filepath.Join(root, "template", "golang-middleware"), HandlerDir: handler, OutDir: t.TempDir()})
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CompileError", err)
	}
	if !strings.Contains(ce.Output, "undefined: undefinedThing") || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("compiler output missing from error: %v", err)
	}
}

func TestCompileUsesLocalSDKThroughReplace(t *testing.T) {
	root := repoRoot(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{
		"go.mod":  "module handler\n\ngo 1.24\n\nrequire github.com/faas-flow/faas-flow v0.0.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/faas-flow/faas-flow/sdk\"\n)\n\nfunc main() { fmt.Println(sdk.ErrNotFound) }\n",
	})
	var log bytes.Buffer
	bin, err := Compile(context.Background(), CompileSpec{Name: "sdkuser", ContextDir: ctxDir, SDKDir: root, Output: filepath.Join(t.TempDir(), "bin"), Log: &log})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	gomod, _ := os.ReadFile(filepath.Join(ctxDir, "go.mod"))
	if !strings.Contains(string(gomod), "replace github.com/faas-flow/faas-flow => "+root) {
		t.Fatalf("go.mod lacks replace:\n%s", gomod)
	}
	if !strings.Contains(log.String(), "using local SDK") {
		t.Errorf("log does not mention the SDK: %s", log.String())
	}
}

func TestCacheSkipsUnchangedBuild(t *testing.T) {
	root := repoRoot(t)
	handler := t.TempDir()
	writeFiles(t, handler, map[string]string{"handler.go": "package function\n\nimport \"net/http\"\n\nfunc Handle(w http.ResponseWriter, r *http.Request) {}\n"})
	cache := t.TempDir()
	spec := Spec{Name: "c", TemplateDir: filepath.Join(root, "template", "golang-middleware"), HandlerDir: handler, OutDir: t.TempDir(), CacheDir: cache}
	if _, err := Function(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(cache)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache after one build: %v, %v", entries, err)
	}
	first := filepath.Join(cache, entries[0].Name())
	longAgo := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(first, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	spec.Log = &log
	spec.OutDir = t.TempDir()
	bin, err := Function(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "unchanged since last build") {
		t.Fatalf("second build was not served from the cache: %s", log.String())
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(first); err != nil || time.Since(fi.ModTime()) > time.Minute {
		t.Fatalf("a cache hit did not mark the entry used: %v, %v", fi.ModTime(), err)
	}
	// A changed handler is compiled again; with a budget of one byte, the
	// new entry evicts the first (once that was last used long ago), and
	// the binary handed out from it still runs.
	if err := os.Chtimes(first, longAgo, longAgo); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, handler, map[string]string{"other.go": "package function\n"})
	log.Reset()
	spec.CacheMaxBytes = 1
	spec.OutDir = t.TempDir()
	if _, err := Function(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "unchanged") {
		t.Fatalf("changed handler served from cache")
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("the least recently used entry survived a full cache: %v", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want the new one", len(entries))
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("a binary handed out from an evicted entry is gone: %v", err)
	}
}

func TestFindSDKDirWalksUpToModule(t *testing.T) {
	root := repoRoot(t)
	got, err := FindSDKDir(filepath.Join(root, "template", "golang-middleware", "function"))
	if err != nil || got != root {
		t.Fatalf("FindSDKDir = %q, %v; want %q", got, err, root)
	}
	none, err := FindSDKDir(t.TempDir())
	if err != nil || none != "" {
		t.Fatalf("FindSDKDir(tmp) = %q, %v; want empty", none, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(fmt.Sprintf("%s never became healthy", url))
}
