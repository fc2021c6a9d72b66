package testenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
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

// minioStartTimeout bounds how long MinIO may take to answer its health check.
const minioStartTimeout = 60 * time.Second

// MinIOServer is a running (or stopped) MinIO server process.
type MinIOServer struct {
	// Endpoint is host:port of the S3 API (plain HTTP, or HTTPS for a
	// server from MinIOTLS).
	Endpoint string
	// AccessKey and SecretKey are the generated root credentials.
	AccessKey, SecretKey string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate (MinIOTLS only).
	CAFile string

	tb       testing.TB
	bin      string
	dataDir  string
	logPath  string
	console  string
	certsDir string   // MinIO's --certs-dir (MinIOTLS only)
	env      []string // extra environment (MinIOWithEnv)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// MinIOBinary returns the path of the MinIO server binary tests use:
// $FAASFLOW_MINIO_BIN, else ${FAASFLOW_CACHE:-$HOME/.cache/faasflow}/bin/minio.
func MinIOBinary() string {
	return cachedBinary("FAASFLOW_MINIO_BIN", "minio")
}

// MinIO starts the real MinIO server binary on a free 127.0.0.1 port with a
// temp data directory and generated root credentials, and waits until it is
// healthy. The server is stopped when the test ends.
func MinIO(tb testing.TB) *MinIOServer {
	tb.Helper()
	return startMinIO(tb, false)
}

// MinIOWithEnv is MinIO started with env added to its environment
// ("NAME=value" entries), for example the MINIO_NOTIFY_WEBHOOK_*_<ID>
// variables of a webhook notification target, which MinIO reads only at
// start.
func MinIOWithEnv(tb testing.TB, env ...string) *MinIOServer {
	tb.Helper()
	return startMinIO(tb, false, env...)
}

// MinIOTLS is MinIO serving HTTPS with a certificate for 127.0.0.1 signed
// by a CA generated for the test (its PEM file is CAFile).
func MinIOTLS(tb testing.TB) *MinIOServer {
	tb.Helper()
	return startMinIO(tb, true)
}

func startMinIO(tb testing.TB, withTLS bool, env ...string) *MinIOServer {
	tb.Helper()
	bin := MinIOBinary()
	requireExecutable(tb, bin, "MinIO server binary", "FAASFLOW_MINIO_BIN")
	dir := tb.TempDir()
	m := &MinIOServer{
		AccessKey: "testenv-" + randomHex(tb, 6),
		SecretKey: randomHex(tb, 20),
		tb:        tb,
		bin:       bin,
		dataDir:   filepath.Join(dir, "data"),
		logPath:   filepath.Join(dir, "minio.log"),
		env:       env,
	}
	if withTLS {
		m.certsDir = filepath.Join(dir, "certs")
		m.CAFile = writeServerCerts(tb, m.certsDir, "public.crt", "private.key")
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		m.Endpoint = freeAddr(tb)
		m.console = freeAddr(tb)
		if err = m.start(); err == nil {
			break
		}
		if !strings.Contains(m.logTail(), "address already in use") {
			break
		}
	}
	if err != nil {
		tb.Fatalf("testenv: cannot start MinIO (%s) on %s: %v\nlog: %s\nfix: run scripts/deps.sh to rebuild the binary",
			bin, m.Endpoint, err, m.logTail())
	}
	tb.Cleanup(m.Stop)
	return m
}

// URL returns the S3 endpoint as an http:// (https:// with TLS) URL.
func (m *MinIOServer) URL() string {
	if m.certsDir != "" {
		return "https://" + m.Endpoint
	}
	return "http://" + m.Endpoint
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10s) and waits for
// it to exit. Its data and port are kept for Restart. Stopping a stopped
// server does nothing.
func (m *MinIOServer) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Restart starts a stopped server again on the same address, data and
// credentials, and waits until it is healthy.
func (m *MinIOServer) Restart() {
	m.tb.Helper()
	m.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := m.start()
		if err == nil {
			return
		}
		if !strings.Contains(m.logTail(), "address already in use") || time.Now().After(deadline) {
			m.tb.Fatalf("testenv: cannot restart MinIO on %s: %v\nlog: %s", m.Endpoint, err, m.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *MinIOServer) start() error {
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	args := []string{"server", "--quiet", "--address", m.Endpoint, "--console-address", m.console}
	if m.certsDir != "" {
		args = append(args, "--certs-dir", m.certsDir)
	}
	cmd := exec.Command(m.bin, append(args, m.dataDir)...)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CONFIG_ENV_FILE=",
	)
	cmd.Env = append(cmd.Env, m.env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()

	ctx, cancel := context.WithTimeout(context.Background(), minioStartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	if m.CAFile != "" {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(m.CAFile); err != nil || !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("read the test CA %s: %v", m.CAFile, err)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	err = waitHealthy(ctx, client, m.URL(), done)
	if err != nil {
		_ = cmd.Process.Kill()
		<-done
		if waitErr != nil {
			err = fmt.Errorf("%w (process: %v)", err, waitErr)
		}
		return err
	}
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	return nil
}

// waitHealthy polls MinIO's liveness and readiness endpoints, then the S3 API
// itself until it stops answering 503 "server not initialized" (an anonymous
// request then gets 403).
func waitHealthy(ctx context.Context, client *http.Client, base string, exited <-chan struct{}) error {
	for _, path := range []string{"/minio/health/live", "/minio/health/ready", "/"} {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK || path == "/" && resp.StatusCode < 500 {
					break
				}
			}
			select {
			case <-exited:
				return errors.New("minio exited before becoming healthy")
			case <-ctx.Done():
				return fmt.Errorf("minio not healthy at %s%s: %w", base, path, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func (m *MinIOServer) logTail() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return "no log"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
