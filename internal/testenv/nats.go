package testenv

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsStartTimeout bounds how long an embedded NATS server may take to accept
// client connections.
const natsStartTimeout = 30 * time.Second

// NATSServer is a running (or shut down) embedded NATS server
// (github.com/nats-io/nats-server/v2, the real server in-process) with
// JetStream enabled and file storage in a test temp directory.
type NATSServer struct {
	// URL is the client URL, nats://127.0.0.1:PORT. It stays the same across
	// Shutdown and Restart.
	URL string
	// StoreDir is JetStream's storage directory; streams and their messages
	// survive Shutdown and Restart.
	StoreDir string

	tb   testing.TB
	port int

	mu  sync.Mutex
	srv *server.Server
}

// NATS starts an embedded NATS server with JetStream on a free 127.0.0.1
// port, storing JetStream data in a temp directory, and waits until it
// accepts clients. It is shut down when the test ends.
func NATS(tb testing.TB) *NATSServer {
	tb.Helper()
	n := &NATSServer{tb: tb, StoreDir: filepath.Join(tb.TempDir(), "jetstream")}
	srv, err := n.start(server.RANDOM_PORT)
	if err != nil {
		tb.Fatalf("testenv: cannot start embedded NATS JetStream server: %v", err)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		tb.Fatalf("testenv: embedded NATS server has no TCP address (got %v)", srv.Addr())
	}
	n.port = addr.Port
	n.URL = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	n.srv = srv
	tb.Cleanup(n.Shutdown)
	return n
}

func (n *NATSServer) options(port int) *server.Options {
	return &server.Options{
		ServerName: "testenv-nats",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   n.StoreDir,
		// Bound JetStream's resources instead of sizing them from the
		// machine; plenty for tests.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
		NoLog:              true,
		NoSigs:             true,
	}
}

func (n *NATSServer) start(port int) (*server.Server, error) {
	srv, err := server.NewServer(n.options(port))
	if err != nil {
		return nil, fmt.Errorf("configure nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(natsStartTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats-server not accepting connections on 127.0.0.1:%d within %s", port, natsStartTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return nil, fmt.Errorf("nats-server started without JetStream (store dir %s)", n.StoreDir)
	}
	return srv, nil
}

// Server returns the running embedded server, or nil after Shutdown.
func (n *NATSServer) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Shutdown stops the server and waits for it to finish. Clients see their
// connection drop; JetStream data stays in StoreDir. Shutting down a stopped
// server does nothing.
func (n *NATSServer) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart shuts the server down (if running) and starts it again on the same
// port with the same JetStream store, so clients that reconnect find their
// streams and messages. It fails the test if the server cannot start again;
// call it from the test's goroutine.
func (n *NATSServer) Restart() {
	n.tb.Helper()
	n.Shutdown()
	// The server reports a failed listen only through its (disabled) log, so
	// make sure the port is free before starting rather than time out.
	addr := fmt.Sprintf("127.0.0.1:%d", n.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			n.tb.Fatalf("testenv: cannot restart embedded NATS: port %s stays busy: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv, err := n.start(n.port)
	if err != nil {
		n.tb.Fatalf("testenv: cannot restart embedded NATS on %s: %v", n.URL, err)
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
}

// JetStream starts an embedded NATS server (see NATS) and returns a
// JetStream context on a client connection to it; both close when the test
// ends.
func JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	n := NATS(tb)
	nc, err := nats.Connect(n.URL)
	if err != nil {
		tb.Fatalf("testenv: cannot connect to embedded NATS at %s: %v", n.URL, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("testenv: JetStream: %v", err)
	}
	return js
}
