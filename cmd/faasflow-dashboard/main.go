package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faas-flow/faas-flow/dashboard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Getenv, log, nil); err != nil {
		log.Error("faasflow-dashboard", "err", err)
		os.Exit(1)
	}
}

// config is the server's configuration, from the environment and secrets.
type config struct {
	addr string
	opts dashboard.Options
}

// loadConfig reads:
//
//	port                 listen port (default 8080)
//	gateway_url          the gateway (default http://gateway.openfaas:8080)
//	jaeger_url           the Jaeger UI traces are linked to (default none)
//	secret_mount_path    where the secrets are (default /var/openfaas/secrets)
//	basic-auth-user      secret: the gateway's user (none: no login)
//	basic-auth-password  secret: the gateway's password
func loadConfig(getenv func(string) string) (config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := config{addr: ":" + get("port", "8080"), opts: dashboard.Options{
		GatewayURL: get("gateway_url", "http://gateway.openfaas:8080"),
		JaegerURL:  get("jaeger_url", ""),
		HTTPClient: &http.Client{Timeout: time.Minute},
	}}
	dir := get("secret_mount_path", "/var/openfaas/secrets")
	user, err := readSecret(dir, "basic-auth-user")
	if err != nil {
		return c, err
	}
	pass, err := readSecret(dir, "basic-auth-password")
	if err != nil {
		return c, err
	}
	if (user == "") != (pass == "") {
		return c, errors.New("secrets basic-auth-user and basic-auth-password: give both or neither")
	}
	c.opts.Username, c.opts.Password = user, pass
	return c, nil
}

// readSecret returns the trimmed secret name in dir, "" when it is absent.
func readSecret(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// run serves the dashboard until ctx ends. ready, when not nil, receives
// the address listened on.
func run(ctx context.Context, getenv func(string) string, log *slog.Logger, ready chan<- string) error {
	c, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	ui, err := dashboard.New(c.opts)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") })
	mux.Handle("/", ui)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("dashboard listening", "addr", ln.Addr().String(), "gateway", c.opts.GatewayURL, "login", c.opts.Username != "")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
