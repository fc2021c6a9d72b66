package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/gatewaytest"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

var handlerDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faasflow-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	handlerDir = filepath.Join(dir, "worker")
	if err := gatewaytest.WriteHandler(handlerDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return cliEnv(t, nil, stdin, args...)
}

// cliEnv is cli with the environment variables vars.
func cliEnv(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, e, args)
	return result{code, out.String(), errb.String()}
}

func writeStack(t *testing.T, gatewayURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stack.yml")
	src := fmt.Sprintf("version: 1.0\nprovider:\n  name: openfaas\n  gateway: %s\nfunctions:\n  echo:\n    lang: golang-middleware\n    handler: %s\n    image: echo:latest\n    environment:\n      GREETING: hi\n", gatewayURL, handlerDir)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeployInvokeStateDagLogsAgainstLocalGateway(t *testing.T) {
	state := t.TempDir()
	l, err := gateway.StartLocal(context.Background(), gateway.LocalOptions{StateDir: state})
	if err != nil {
		t.Fatalf("local gateway did not start: %v", err)
	}
	defer l.Close()
	stack := writeStack(t, l.URL()) // the gateway comes from the stack's provider.gateway

	r := cli(t, "", "deploy", "-f", stack, "--state-dir", state)
	if r.code != 0 || !strings.Contains(r.stderr, "echo: deployed") {
		t.Fatalf("deploy = %d\n%s", r.code, r.stderr)
	}
	gw := []string{"--gateway", l.URL(), "--state-dir", state}

	r = cli(t, "payload", append([]string{"invoke", "echo", "--query", "a=b", "--header", "X-A=1", "--path", "/p"}, gw...)...)
	if r.code != 0 || r.stdout != "POST /p?a=b payload" {
		t.Fatalf("invoke = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = cli(t, "", append([]string{"invoke", "echo", "--wait", "5s", "--method", "GET"}, gw...)...)
	if r.stdout != "GET /?wait=5s " {
		t.Fatalf("invoke --wait = %q", r.stdout)
	}
	r = cli(t, "x", append([]string{"invoke", "--async", "echo"}, gw...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "Function submitted asynchronously. X-Call-Id: ") {
		t.Fatalf("async = %d %q", r.code, r.stderr)
	}
	r = cli(t, "", append([]string{"invoke", "echo", "--path", "/status/500"}, gw...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "server returned unexpected status code: 500") {
		t.Fatalf("failing invoke = %d %q", r.code, r.stderr)
	}
	r = cli(t, "", append([]string{"invoke", "missing"}, gw...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Fatalf("unknown function = %d %q", r.code, r.stderr)
	}
	// echo answers anything with 200, but it is not a flow: the flow
	// commands must say so instead of printing its answer.
	for _, args := range [][]string{
		{"state", "echo", "req-1"}, {"pause", "echo", "req-1"}, {"resume", "echo", "req-1"},
		{"stop", "echo", "req-1"}, {"redrive", "echo", "req-1"}, {"dag", "echo", "--format", "mermaid"},
	} {
		r = cli(t, "", append(args, gw...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "faasflow "+args[0]+": echo is not a faas-flow flow") {
			t.Fatalf("%s = %d %q %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	r = cli(t, "", append([]string{"state", "missing", "req-1"}, gw...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "404 - error finding function missing") {
		t.Fatalf("state of an unknown function = %d %q", r.code, r.stderr)
	}
	if r := cli(t, "", append([]string{"redrive", "echo"}, gw...)...); r.code == 0 || !strings.Contains(r.stderr, "REQUEST_ID") {
		t.Fatalf("redrive without an id = %d %q", r.code, r.stderr)
	}
	if r := cli(t, "", append([]string{"dag", "echo", "--format", "png"}, gw...)...); r.code != exitUsage {
		t.Fatalf("bad format accepted")
	}
	r = cli(t, "", append([]string{"logs", "echo"}, gw...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "golang-middleware handler listening") {
		t.Fatalf("logs = %d %q %q", r.code, r.stdout, r.stderr)
	}
	// --follow prints what is kept, then stays until the function is removed.
	followed := make(chan result, 1)
	go func() {
		followed <- cli(t, "", append([]string{"logs", "echo", "--follow", "--timestamps=false"}, gw...)...)
	}()
	select {
	case r := <-followed:
		t.Fatalf("logs --follow ended while the function was deployed: %d %q %q", r.code, r.stdout, r.stderr)
	case <-time.After(time.Second):
	}
	if err := l.Client().Delete(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-followed:
		if r.code != 0 || !strings.Contains(r.stdout, "golang-middleware handler listening") {
			t.Fatalf("logs --follow = %d %q %q", r.code, r.stdout, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs --follow did not end when the function was removed")
	}
	// without the state dir the credentials are missing
	r = cli(t, "", "deploy", "-f", stack, "--state-dir", t.TempDir())
	if r.code != 1 {
		t.Fatalf("deploy without credentials = %d %q", r.code, r.stderr)
	}
}

func TestDeployReportsCompilerOutput(t *testing.T) {
	state := t.TempDir()
	l, err := gateway.StartLocal(context.Background(), gateway.LocalOptions{StateDir: state})
	if err != nil {
		t.Fatalf("local gateway did not start: %v", err)
	}
	defer l.Close()
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "handler.go"), []byte("package function\n\nfunc Handle() { oops }\n"), 0o644)
	p := filepath.Join(t.TempDir(), "stack.yml")
	os.WriteFile(p, []byte("version: 1.0\nprovider: {name: openfaas}\nfunctions:\n  bad:\n    lang: golang-middleware\n    handler: "+bad+"\n    image: bad:1\n"), 0o644)
	r := cli(t, "", "deploy", "-f", p, "--gateway", l.URL(), "--state-dir", state)
	if r.code != 1 || !strings.Contains(r.stderr, "undefined: oops") {
		t.Fatalf("deploy = %d\n%s", r.code, r.stderr)
	}
}

func TestUpOnBusyPortPrintsOneClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	r := cli(t, "", "up", "--port", port, "--state-dir", t.TempDir())
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if r.code != 1 || !strings.Contains(last, "127.0.0.1:"+port+" is already in use") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("up on busy port = %d\n%s", r.code, r.stderr)
	}
	for _, l := range lines {
		if strings.Contains(l, "level=ERROR") {
			t.Errorf("extra error output: %s", l)
		}
	}
}

func TestUpPrintsEndpointsAndDownStopsIt(t *testing.T) {
	state := t.TempDir()
	var out, errb testenv.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), e, []string{"up", "--port", "0", "--state-dir", state}) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "faasflow down") {
		if time.Now().After(deadline) {
			t.Fatalf("up did not come up:\n%s\n%s", out.String(), errb.String())
		}
		select {
		case code := <-done:
			t.Fatalf("up exited %d:\n%s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, want := range []string{"gateway        http://127.0.0.1:", "password", "NATS           nats://127.0.0.1:", "etcd           http://127.0.0.1:", "--remote-builder"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up output lacks %q:\n%s", want, out.String())
		}
	}
	// Client commands find the running up through its state dir.
	url, err := os.ReadFile(filepath.Join(state, urlFile))
	if err != nil || !strings.Contains(out.String(), "gateway        "+strings.TrimSpace(string(url))) {
		t.Fatalf("%s = %q, %v; up printed:\n%s", urlFile, url, err, out.String())
	}
	if r := cli(t, "", "list", "--state-dir", state); r.code != 0 || !strings.HasPrefix(r.stdout, "FUNCTION") {
		t.Fatalf("list --state-dir = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := cliEnv(t, map[string]string{"FAASFLOW_STATE_DIR": state}, "", "version"); r.code != 0 || !strings.Contains(r.stdout, "url       "+string(url)) {
		t.Fatalf("version with $FAASFLOW_STATE_DIR = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r := cli(t, "", "down", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("down = %d %q", r.code, r.stderr)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop after down")
	}
	if r := cli(t, "", "down", "--state-dir", state); r.code != 1 || !strings.Contains(r.stderr, "no faasflow up is running") {
		t.Fatalf("second down = %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(state, urlFile)); !os.IsNotExist(err) {
		t.Fatalf("%s is left after down: %v", urlFile, err)
	}
}

// TestUsageErrorsExitTwo: a wrong command line exits 2 with what is wrong
// and where to find the usage, before any gateway is called.
func TestUsageErrorsExitTwo(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{nil, "Usage: faasflow COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"invoke"}, "want exactly one function name"},
		{[]string{"invoke", "f", "--header", "novalue"}, "want key=value"},
		{[]string{"list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"list", "extra"}, `unexpected argument "extra"`},
		{[]string{"describe"}, "want exactly one function name"},
		{[]string{"remove"}, "want function names, or -f stack.yml"},
		{[]string{"rm", "a", "-f", "stack.yml"}, "not both"},
		{[]string{"secret"}, "want a subcommand"},
		{[]string{"secret", "frob"}, `unknown subcommand "frob"`},
		{[]string{"secret", "create"}, "want exactly one secret name"},
		{[]string{"secret", "create", "s", "--from-literal", "a", "--from-file", "b"}, "not both"},
		{[]string{"secret", "rm"}, "want at least one secret name"},
		{[]string{"result", "flow"}, "want FLOW and REQUEST_ID"},
		{[]string{"state", "flow"}, "want FLOW and REQUEST_ID"},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"dag", "f", "--format", "png"}, "--format must be"},
		{[]string{"down", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := cli(t, "", tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.stderr) || !strings.Contains(r.stderr, "faasflow help") {
				t.Fatalf("faasflow %s = %d %q", strings.Join(tt.args, " "), r.code, r.stderr)
			}
		})
	}
}

// TestHelpShowsEveryCommandsUsage: `help`, `help CMD` and `CMD --help`
// print on stdout and exit 0, for every command.
func TestHelpShowsEveryCommandsUsage(t *testing.T) {
	r := cli(t, "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "remove, rm") || !strings.Contains(r.stdout, "Exit codes: 0 ok, 1") {
		t.Fatalf("help = %d %q", r.code, r.stdout)
	}
	for name, c := range commands() {
		if !strings.Contains(r.stdout, "  "+name) {
			t.Errorf("help does not list %s", name)
		}
		if c.run == nil {
			continue
		}
		for _, args := range [][]string{{"help", name}, {name, "--help"}, {name, "-h"}} {
			r := cli(t, "", args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "faasflow "+name+": "+c.summary+"\n\nUsage: faasflow "+name) || r.stderr != "" {
				t.Errorf("faasflow %s = %d\nstdout %q\nstderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, args := range [][]string{{"help", "secret", "create"}, {"secret", "create", "--help"}} {
		r := cli(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: faasflow secret create NAME") || !strings.Contains(r.stdout, "-from-file") {
			t.Errorf("faasflow %s = %d %q %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := cli(t, "", "help", "rm"); r.code != 0 || !strings.Contains(r.stdout, "Usage: faasflow remove NAME") {
		t.Errorf("help rm = %d %q", r.code, r.stdout)
	}
}

func TestParseAcceptsFlagsAfterPositionals(t *testing.T) {
	fs := newFlagSet("x", env{stderr: &bytes.Buffer{}}, "x")
	async := fs.Bool("async", false, "")
	var h listFlag
	fs.Var(&h, "header", "")
	pos, err := parse(fs, []string{"name", "--async", "--header", "a=1", "extra", "--header=b=2"})
	if err != nil || !*async || len(pos) != 2 || pos[0] != "name" || pos[1] != "extra" || len(h) != 2 {
		t.Fatalf("pos %v async %v headers %v err %v", pos, *async, h, err)
	}
}
