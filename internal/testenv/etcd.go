package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdStartTimeout bounds how long an embedded etcd may take to become ready.
const etcdStartTimeout = 30 * time.Second

// EtcdConfig selects optional features of an embedded etcd server.
type EtcdConfig struct {
	// RootPassword, when not empty, enables etcd authentication with the
	// user "root" (role root) and this password.
	RootPassword string
	// TLS serves clients over TLS with certificates from a generated CA and
	// requires client certificates. The PEM files are named by the server's
	// CAFile, ClientCertFile and ClientKeyFile.
	TLS bool
}

// EtcdServer is a running (or stopped) embedded etcd server.
type EtcdServer struct {
	tb        testing.TB
	cfg       EtcdConfig
	dir       string
	clientURL url.URL
	peerURL   url.URL

	// CAFile, ClientCertFile and ClientKeyFile are PEM files a client needs
	// when the server was started with EtcdConfig.TLS; empty otherwise.
	CAFile, ClientCertFile, ClientKeyFile string
	serverCertFile, serverKeyFile         string

	mu   sync.Mutex
	etcd *embed.Etcd
}

// Etcd starts a plain embedded etcd server for the test and returns its
// client endpoints.
func Etcd(tb testing.TB) []string {
	tb.Helper()
	return StartEtcd(tb, EtcdConfig{}).Endpoints()
}

// StartEtcd starts an embedded etcd server with cfg on free 127.0.0.1 ports
// in a temp directory. The server is stopped when the test ends.
func StartEtcd(tb testing.TB, cfg EtcdConfig) *EtcdServer {
	tb.Helper()
	s := &EtcdServer{tb: tb, cfg: cfg, dir: tb.TempDir()}
	if cfg.TLS {
		s.writeCerts()
	}
	scheme := "http"
	if cfg.TLS {
		scheme = "https"
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.clientURL = url.URL{Scheme: scheme, Host: freeAddr(tb)}
		s.peerURL = url.URL{Scheme: "http", Host: freeAddr(tb)}
		if lastErr = s.start(); lastErr == nil {
			break
		}
		if !isAddrInUse(lastErr) {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("testenv: cannot start embedded etcd in %s: %v (log: %s)", s.dir, lastErr, s.logTail())
	}
	tb.Cleanup(s.Stop)
	if cfg.RootPassword != "" {
		s.enableAuth()
	}
	return s
}

// Endpoints returns the client URLs of the server (stable across Restart).
func (s *EtcdServer) Endpoints() []string { return []string{s.clientURL.String()} }

// Addr returns the client host:port of the server.
func (s *EtcdServer) Addr() string { return s.clientURL.Host }

// Stop stops the server; its data directory and ports are kept for Restart.
// Stopping a stopped server does nothing.
func (s *EtcdServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd == nil {
		return
	}
	s.etcd.Close()
	<-s.etcd.Server.StopNotify()
	s.etcd = nil
}

// Restart starts a stopped server again on the same ports and data.
func (s *EtcdServer) Restart() {
	s.tb.Helper()
	s.Stop()
	// The old listeners are closed; the port is normally free at once, but
	// retry briefly in case the kernel is slow to release it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if !isAddrInUse(err) || time.Now().After(deadline) {
			s.tb.Fatalf("testenv: cannot restart embedded etcd on %s: %v (log: %s)", s.clientURL.Host, err, s.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *EtcdServer) start() error {
	c := embed.NewConfig()
	c.Name = "testenv"
	c.Dir = filepath.Join(s.dir, "data")
	c.ListenClientUrls = []url.URL{s.clientURL}
	c.AdvertiseClientUrls = []url.URL{s.clientURL}
	c.ListenPeerUrls = []url.URL{s.peerURL}
	c.AdvertisePeerUrls = []url.URL{s.peerURL}
	c.InitialCluster = c.InitialClusterFromName(c.Name)
	c.LogLevel = "warn"
	c.LogOutputs = []string{filepath.Join(s.dir, "etcd.log")}
	// Test servers trade durability for speed; etcd semantics are unchanged.
	c.UnsafeNoFsync = true
	c.BcryptCost = 4 // bcrypt.MinCost: password checks are slow under -race otherwise
	if s.cfg.TLS {
		c.ClientTLSInfo = transport.TLSInfo{
			CertFile:       s.serverCertFile,
			KeyFile:        s.serverKeyFile,
			TrustedCAFile:  s.CAFile,
			ClientCertAuth: true,
		}
	}
	e, err := embed.StartEtcd(c)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(etcdStartTimeout):
		e.Close()
		return fmt.Errorf("etcd not ready after %v", etcdStartTimeout)
	}
	s.mu.Lock()
	s.etcd = e
	s.mu.Unlock()
	return nil
}

// enableAuth creates the root user and turns authentication on.
func (s *EtcdServer) enableAuth() {
	s.tb.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 5 * time.Second,
		TLS:         s.ClientTLS(),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		s.tb.Fatalf("testenv: etcd client for auth setup: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", s.cfg.RootPassword); err != nil {
		s.tb.Fatalf("testenv: etcd add root user: %v", err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		s.tb.Fatalf("testenv: etcd grant root role: %v", err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		s.tb.Fatalf("testenv: etcd enable auth: %v", err)
	}
}

// logTail returns the end of the server log for failure messages.
func (s *EtcdServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "etcd.log"))
	if err != nil {
		return "no log"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// writeCerts generates a CA, a server certificate for 127.0.0.1 and a client
// certificate, all as PEM files in the server's directory.
func (s *EtcdServer) writeCerts() {
	s.tb.Helper()
	dir := filepath.Join(s.dir, "tls")
	var caKey *ecdsa.PrivateKey
	var caCert *x509.Certificate
	s.CAFile, caKey, caCert = writeCA(s.tb, dir)
	s.serverCertFile, s.serverKeyFile = writeServerCert(s.tb, dir, caKey, caCert, "server.pem", "server-key.pem")
	cliKey, _, cliDER := newCert(s.tb, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "faasflow-client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	s.ClientCertFile = writePEM(s.tb, dir, "client.pem", "CERTIFICATE", cliDER)
	s.ClientKeyFile = writePEM(s.tb, dir, "client-key.pem", "EC PRIVATE KEY", marshalKey(s.tb, cliKey))
}

// ClientTLS returns a client TLS configuration trusting the server's CA and
// presenting the client certificate, or nil for a plain server.
func (s *EtcdServer) ClientTLS() *tls.Config {
	if !s.cfg.TLS {
		return nil
	}
	info := transport.TLSInfo{CertFile: s.ClientCertFile, KeyFile: s.ClientKeyFile, TrustedCAFile: s.CAFile}
	c, err := info.ClientConfig()
	if err != nil {
		s.tb.Fatalf("testenv: client TLS config: %v", err)
	}
	return c
}

// writeServerCerts writes into dir a new CA (ca.pem, whose path it returns)
// and a certificate for 127.0.0.1 and localhost signed by it, with its key,
// under the names certName and keyName.
func writeServerCerts(tb testing.TB, dir, certName, keyName string) (caFile string) {
	tb.Helper()
	caFile, caKey, caCert := writeCA(tb, dir)
	writeServerCert(tb, dir, caKey, caCert, certName, keyName)
	return caFile
}

// writeCA writes a new CA certificate to dir/ca.pem.
func writeCA(tb testing.TB, dir string) (string, *ecdsa.PrivateKey, *x509.Certificate) {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	key, cert, der := newCert(tb, nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "faasflow testenv CA"},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	})
	return writePEM(tb, dir, "ca.pem", "CERTIFICATE", der), key, cert
}

// writeServerCert writes a certificate for 127.0.0.1 and localhost signed by
// the CA, and its key, and returns their paths.
func writeServerCert(tb testing.TB, dir string, caKey *ecdsa.PrivateKey, caCert *x509.Certificate, certName, keyName string) (certFile, keyFile string) {
	tb.Helper()
	key, _, der := newCert(tb, caKey, caCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	return writePEM(tb, dir, certName, "CERTIFICATE", der), writePEM(tb, dir, keyName, "EC PRIVATE KEY", marshalKey(tb, key))
}

func newCert(tb testing.TB, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("testenv: serial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatalf("testenv: create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("testenv: parse certificate: %v", err)
	}
	return key, cert, der
}

func marshalKey(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatalf("testenv: marshal key: %v", err)
	}
	return der
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("testenv: write %s: %v", path, err)
	}
	return path
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: no free port on 127.0.0.1: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
