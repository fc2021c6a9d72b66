package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/gatewaytest"
)

var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supervisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin, err = gatewaytest.Build(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test worker function failed:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newSup(t *testing.T) *Supervisor {
	t.Helper()
	s, err := New(Options{StateDir: t.TempDir(), BackoffMin: 20 * time.Millisecond, ReadyTimeout: 15 * time.Second, StopTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(t *testing.T, inst *Instance, method, target, body string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://fn"+target, strings.NewReader(body))
	resp, err := inst.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestHTTPFunctionGetsEnvAndServes(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin, Env: map[string]string{"OPENFAAS_NAME": "w", "FOO": "bar"}}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	for k, want := range map[string]string{"OPENFAAS_NAME": "w", "FOO": "bar", "mode": "http"} {
		code, body, err := call(t, inst, "GET", "/env?k="+k, "")
		if err != nil || code != 200 || body != want {
			t.Errorf("env %s = %d %q %v, want %q", k, code, body, err, want)
		}
	}
	_, addr, _ := call(t, inst, "GET", "/env?k=listen_addr", "")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("listen_addr = %q", addr)
	}
	code, body, err := call(t, inst, "PUT", "/a/b?x=1", "payload")
	if err != nil || code != 200 || body != "PUT /a/b?x=1 payload" {
		t.Fatalf("echo = %d %q %v", code, body, err)
	}
}

func TestCrashedProcessIsRestarted(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	if _, err := inst.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := inst.PID()
	if _, _, err := call(t, inst, "POST", "/crash", ""); err == nil {
		t.Fatal("request to a process that died mid-request did not fail")
	}
	deadline := time.Now().Add(10 * time.Second)
	for inst.Restarts() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("crashed process was not restarted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, body, err := call(t, inst, "GET", "/", "")
	if err != nil || code != 200 {
		t.Fatalf("after restart: %d %q %v", code, body, err)
	}
	if inst.PID() == pid || inst.Restarts() < 1 {
		t.Fatalf("pid %d -> %d, restarts %d", pid, inst.PID(), inst.Restarts())
	}
}

func TestSecretsAreMountedPerFunction(t *testing.T) {
	s := newSup(t)
	os.MkdirAll(s.SecretsDir(), 0o755)
	os.WriteFile(filepath.Join(s.SecretsDir(), "api-key"), []byte("s3cret\n"), 0o600)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin, Secrets: []string{"api-key"}}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	code, body, err := call(t, inst, "GET", "/secret?name=api-key", "")
	if err != nil || code != 200 || body != "s3cret\n" {
		t.Fatalf("secret = %d %q %v", code, body, err)
	}
	err = s.Start(context.Background(), Spec{Name: "x", Binary: workerBin, Secrets: []string{"missing"}})
	if !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("missing secret err = %v", err)
	}
}

func TestClassicFprocessPipesStdinToStdout(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "up", FProcess: "tr a-z A-Z"}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("up")
	code, body, err := call(t, inst, "POST", "/", "hello")
	if err != nil || code != 200 || body != "HELLO" {
		t.Fatalf("classic = %d %q %v", code, body, err)
	}
	if err := s.Start(context.Background(), Spec{Name: "bad", FProcess: "false"}); err != nil {
		t.Fatal(err)
	}
	inst, _ = s.Get("bad")
	if code, _, err := call(t, inst, "POST", "/", ""); err != nil || code != 500 {
		t.Fatalf("failing fprocess = %d %v, want 500", code, err)
	}
}

func TestLogsAreCapturedInRingAndFile(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	if _, err := inst.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines, _ := s.Logs("w", 0)
		found := false
		for _, l := range lines {
			if strings.Contains(l.Text, "golang-middleware handler listening") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler's log line not captured: %+v", lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(s.opts.StateDir, "logs", "w.log"))
	if err != nil || !strings.Contains(string(b), "golang-middleware handler listening") {
		t.Fatalf("log file: %v %q", err, b)
	}
}

func TestStopKillsProcess(t *testing.T) {
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("w")
	if _, err := inst.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := inst.PID()
	if err := s.Stop("w"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("pid %d still alive after Stop", pid)
	}
	if _, ok := s.Get("w"); ok {
		t.Fatal("stopped function still listed")
	}
	if err := s.Stop("w"); !errors.Is(err, api.ErrFunctionNotFound) {
		t.Fatalf("second stop = %v", err)
	}
}

func TestExecTimeoutPrefersExecThenWriteTimeout(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want time.Duration
	}{
		{nil, time.Minute},
		{map[string]string{"write_timeout": "5"}, 5 * time.Second},
		{map[string]string{"write_timeout": "5s", "exec_timeout": "2s"}, 2 * time.Second},
		{map[string]string{"exec_timeout": "bogus"}, time.Minute},
	}
	for _, tc := range tests {
		if got := execTimeout(tc.env, time.Minute); got != tc.want {
			t.Errorf("execTimeout(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// TestAFunctionThatExitsAtStartIsReportedWithItsOwnOutput: a waiter for a
// function whose process exits before it ever answers its health check
// learns it after CrashLimit exits, with the process's last lines, instead
// of waiting out ReadyTimeout.
func TestAFunctionThatExitsAtStartIsReportedWithItsOwnOutput(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "broken")
	script := "#!/bin/sh\necho 'starting'\necho 'faas-flow: node_lease: not a duration: \"banana\"' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSup(t)
	if err := s.Start(context.Background(), Spec{Name: "broken", Binary: bin}); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Get("broken")
	start := time.Now()
	_, err := inst.WaitReady(context.Background())
	if !errors.Is(err, ErrCrashing) || !strings.Contains(err.Error(), `node_lease: not a duration: "banana"`) {
		t.Fatalf("WaitReady: %v; want ErrCrashing with the process's own error line", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the crash took %s to report (ReadyTimeout is 15s)", took)
	}
	// A function that starts does not count as crashing.
	if err := s.Start(context.Background(), Spec{Name: "w", Binary: workerBin}); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Get("w")
	if _, err := w.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
}
