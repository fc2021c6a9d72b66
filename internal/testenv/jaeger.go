package testenv

import (
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
	"sync"
	"syscall"
	"testing"
	"time"
)

// jaegerStartTimeout bounds how long Jaeger may take to serve its query API
// and open its OTLP receivers.
const jaegerStartTimeout = 60 * time.Second

// ErrTraceNotFound is returned by (*JaegerServer).Trace when Jaeger holds no
// trace with the requested id.
var ErrTraceNotFound = errors.New("testenv: trace not found in jaeger")

// JaegerServer is a running Jaeger v2 process (the real
// github.com/jaegertracing/jaeger/cmd/jaeger binary) with in-memory storage,
// an OTLP receiver and the query HTTP API, all on 127.0.0.1.
type JaegerServer struct {
	// OTLPHTTPEndpoint is host:port of the OTLP/HTTP receiver (traces are
	// posted to http://OTLPHTTPEndpoint/v1/traces). Pass it to
	// otlptracehttp.WithEndpoint together with otlptracehttp.WithInsecure.
	OTLPHTTPEndpoint string
	// OTLPGRPCEndpoint is host:port of the OTLP/gRPC receiver (plaintext).
	// Pass it to otlptracegrpc.WithEndpoint with otlptracegrpc.WithInsecure.
	OTLPGRPCEndpoint string
	// QueryURL is the base URL of the query HTTP API and UI, e.g.
	// http://127.0.0.1:PORT (the UI's /api/... endpoints live under it).
	QueryURL string

	bin     string
	dir     string
	logPath string
	client  *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// JaegerBinary returns the path of the Jaeger v2 binary tests use:
// $FAASFLOW_JAEGER_BIN, else ${FAASFLOW_CACHE:-$HOME/.cache/faasflow}/bin/jaeger.
func JaegerBinary() string {
	return cachedBinary("FAASFLOW_JAEGER_BIN", "jaeger")
}

// Jaeger starts the real Jaeger v2 binary with in-memory storage on free
// 127.0.0.1 ports and waits until its query API answers and its OTLP
// receivers accept connections. It is stopped when the test ends. A missing
// binary or a Jaeger that cannot start fails the test.
func Jaeger(tb testing.TB) *JaegerServer {
	tb.Helper()
	bin := JaegerBinary()
	requireExecutable(tb, bin, "Jaeger v2 binary", "FAASFLOW_JAEGER_BIN")
	dir := tb.TempDir()
	j := &JaegerServer{
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "jaeger.log"),
		client:  &http.Client{Timeout: 10 * time.Second},
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var ports [4]int
		ports, err = jaegerFreePorts()
		if err != nil {
			break
		}
		if err = j.start(ports); err == nil {
			break
		}
		if !strings.Contains(j.logTail(), "address already in use") {
			break
		}
	}
	if err != nil {
		tb.Fatalf("testenv: cannot start Jaeger (%s): %v\nlog: %s\nfix: run scripts/deps.sh to (re)build the binary",
			bin, err, j.logTail())
	}
	tb.Cleanup(j.Stop)
	return j
}

// jaegerConfig is the Jaeger v2 (OpenTelemetry collector) configuration the
// helper runs: in-memory storage, the OTLP receiver without batching (a span
// is queryable as soon as the export call returns), the query extension
// without self-tracing (it would otherwise export its own spans to
// localhost:4317 and stall shutdown for 10s retrying), and no internal
// metrics listener. Every listener binds to 127.0.0.1.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
      grpc:
        endpoint: 127.0.0.1:%d
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// ports: query HTTP, query gRPC, OTLP HTTP, OTLP gRPC.
func (j *JaegerServer) start(ports [4]int) error {
	cfgPath := filepath.Join(j.dir, "jaeger.yaml")
	cfg := fmt.Sprintf(jaegerConfig, ports[0], ports[1], ports[2], ports[3])
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	j.QueryURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	j.OTLPHTTPEndpoint = fmt.Sprintf("127.0.0.1:%d", ports[2])
	j.OTLPGRPCEndpoint = fmt.Sprintf("127.0.0.1:%d", ports[3])

	logf, err := os.OpenFile(j.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(j.bin, "--config", "file:"+cfgPath)
	cmd.Dir = j.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", j.bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()

	ctx, cancel := context.WithTimeout(context.Background(), jaegerStartTimeout)
	defer cancel()
	if err := j.waitReady(ctx, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		if waitErr != nil {
			err = fmt.Errorf("%w (process: %v)", err, waitErr)
		}
		return err
	}
	j.mu.Lock()
	j.cmd, j.done = cmd, done
	j.mu.Unlock()
	return nil
}

// waitReady polls GET /api/services until it answers 200 and then checks
// that both OTLP receivers accept TCP connections.
func (j *JaegerServer) waitReady(ctx context.Context, exited <-chan struct{}) error {
	wait := func(what string) error {
		select {
		case <-exited:
			return errors.New("jaeger exited before becoming ready")
		case <-ctx.Done():
			return fmt.Errorf("jaeger not ready (%s): %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
			return nil
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+"/api/services", nil)
		if err != nil {
			return err
		}
		resp, err := j.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if err := wait("query API " + j.QueryURL); err != nil {
			return err
		}
	}
	var d net.Dialer
	for _, addr := range []string{j.OTLPHTTPEndpoint, j.OTLPGRPCEndpoint} {
		for {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if err := wait("OTLP receiver " + addr); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stop terminates Jaeger (SIGTERM, then SIGKILL after 10s) and waits for it
// to exit. Its in-memory traces are lost. Stopping twice does nothing.
func (j *JaegerServer) Stop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cmd == nil {
		return
	}
	_ = j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		_ = j.cmd.Process.Kill()
		<-j.done
	}
	j.cmd = nil
}

// Log returns the tail of Jaeger's own log, for test failure messages.
func (j *JaegerServer) Log() string { return j.logTail() }

func (j *JaegerServer) logTail() string {
	b, err := os.ReadFile(j.logPath)
	if err != nil {
		return "no log"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

// jaegerFreePorts reserves four distinct free 127.0.0.1 ports by listening
// on port 0 and releasing them. Another process may take one before Jaeger
// binds it; Jaeger then fails with "address already in use" and the caller
// retries with new ports.
func jaegerFreePorts() ([4]int, error) {
	var ports [4]int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports, fmt.Errorf("reserve a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// The JSON shapes below follow Jaeger's query HTTP API (the "UI model").
