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
	// User and Password, when Password is set, are the one account every
	// client must log in with (Connect does); without them anyone who can
	// reach the port may publish and read the queue.
	User, Password string
}

// NATS is a running embedded NATS server with JetStream.
type NATS struct {
	srv            *server.Server
	user, password string
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
		Username:   natsUser(o),
		Password:   o.Password,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 15s (store %s)", o.StoreDir)
	}
	return &NATS{srv: srv, user: natsUser(o), password: o.Password}, nil
}

// NATSDefaultUser is the user StartNATS creates when a password is given
// without a user name.
const NATSDefaultUser = "faasflow"

// natsUser is the user name clients log in with ("" when o sets no
// password: authentication off).
func natsUser(o NATSOptions) string {
	switch {
	case o.Password == "":
		return ""
	case o.User == "":
		return NATSDefaultUser
	}
	return o.User
}

// URL is the client URL, e.g. nats://127.0.0.1:4222.
func (n *NATS) URL() string { return n.srv.ClientURL() }

// Connect opens an in-process client connection, logged in as the
// server's user when it has one.
func (n *NATS) Connect(opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.InProcessServer(n.srv), nats.Name("faasflow-gateway")}
	if n.password != "" {
		base = append(base, nats.UserInfo(n.user, n.password))
	}
	opts = append(base, opts...)
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
