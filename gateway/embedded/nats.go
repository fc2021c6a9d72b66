package embedded

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSOptions configure StartNATS.
type NATSOptions struct {
	// StoreDir holds JetStream's file storage (required).
	StoreDir string
	// Port to listen on (0: a free port).
	Port int
	// Host to listen on (default 127.0.0.1).
	Host string
}

// NATS is a running embedded NATS server with JetStream.
type NATS struct {
	srv *server.Server
}

// StartNATS starts a NATS server with JetStream and waits until it accepts
// connections.
func StartNATS(o NATSOptions) (*NATS, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded nats: StoreDir is required")
	}
	if err := os.MkdirAll(o.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "faasflow-local",
		Host:       o.Host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		HTTPPort:   0,
		MaxPayload: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 15s (store %s)", o.StoreDir)
	}
	return &NATS{srv: srv}, nil
}

// URL is the client URL, e.g. nats://127.0.0.1:4222.
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Connect opens an in-process client connection.
func (n *NATS) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(n.srv), nats.Name("faasflow-gateway")}, opts...)
	nc, err := nats.Connect(n.URL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: connect: %w", err)
	}
	return nc, nil
}

// Close shuts the server down and waits for it.
func (n *NATS) Close() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
