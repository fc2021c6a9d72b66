package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/gatewaytest"
)

// chainHandler is a flow of two nodes, written into a function made by
// faas-cli new: it runs one node per invocation, so it needs the hop
// signing secret, which its stack file does not list.
const chainHandler = `package function

import faasflow "github.com/faas-flow/faas-flow/sdk"

// Define builds one -> two.
func Define(flow *faasflow.Workflow, context *faasflow.Context) error {
	dag := flow.Dag()
	dag.Node("one").Modify(func(d []byte) ([]byte, error) { return append(d, "+1"...), nil })
	dag.Node("two").Modify(func(d []byte) ([]byte, error) { return append(d, "+2"...), nil })
	dag.Edge("one", "two")
	return nil
}
`

// TestUpFromAnEmptyFolderRunsFlowsMadeByFaasCliNew: `faasflow up`, started
// in a folder holding only what faas-cli template pull and faas-cli new
// leave there, builds two new flows through the gateway's remote builder,
// with the SDK their template carries (nothing of this checkout, nothing of
// the module from the proxy), and runs them; the two-node flow runs without
// listing faasflow-hmac-secret, which the local stack provides.
func TestUpFromAnEmptyFolderRunsFlowsMadeByFaasCliNew(t *testing.T) {
	repo, err := gatewaytest.Repo()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyDir(t, filepath.Join(repo, "template"), filepath.Join(dir, "template")) // faas-cli template pull
	for _, name := range []string{"hello", "chain"} {
		copyDir(t, filepath.Join(dir, "template", "faas-flow", "function"), filepath.Join(dir, name)) // faas-cli new
	}
	writeFile(t, filepath.Join(dir, "chain", "handler.go"), chainHandler)
	port := strconv.Itoa(freePort(t))
	url := "http://127.0.0.1:" + port
	writeFile(t, filepath.Join(dir, "stack.yml"), fmt.Sprintf(`version: 1.0
provider:
  name: openfaas
  gateway: %s
functions:
  hello:
    lang: faas-flow
    handler: ./hello
    image: hello:latest
  chain:
    lang: faas-flow
    handler: ./chain
    image: chain:latest
`, url))
	t.Chdir(dir)
	startUp(t, "--port", port, "--state-dir", ".faasflow")
	waitHealthy(t, url)

	r := cli(t, "", "deploy", "-f", "stack.yml", "--state-dir", ".faasflow")
	if r.code != 0 {
		t.Fatalf("deploy = %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "using local SDK") || strings.Contains(r.stderr, repo) {
		t.Fatalf("the build used this checkout:\n%s", r.stderr)
	}
	gw := []string{"--gateway", url, "--state-dir", ".faasflow"}
	if r := cli(t, "world", append([]string{"invoke", "hello"}, gw...)...); r.code != 0 || r.stdout != "Hello world" {
		t.Fatalf("hello = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, "x", append([]string{"invoke", "chain", "--wait", "30s"}, gw...)...); r.code != 0 || r.stdout != "x+1+2" {
		t.Fatalf("chain = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// startUp runs `faasflow up` with args until the test ends.
func startUp(t *testing.T, args ...string) {
	t.Helper()
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
	go func() { done <- run(ctx, e, append([]string{"up"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("faasflow up did not stop")
		}
		if t.Failed() {
			t.Logf("faasflow up:\n%s", out.String())
		}
	})
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become healthy", url)
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
