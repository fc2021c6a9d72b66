// Command handler serves a golang-middleware function: every request except
// the health endpoint goes to function.Handle, in full duplex (see handle).
//
// Environment:
//
//	listen_addr           address to listen on (default ":8082", where the
//	                      of-watchdog's upstream_url points)
//	read_timeout          request read timeout (default 10s; seconds or Go duration)
//	write_timeout         response write timeout (default 10s)
//	healthcheck_interval  grace period after SIGTERM before shutdown (default write_timeout)
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"handler/function"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("handler: %v", err)
	}
}

func run() error {
	addr := os.Getenv("listen_addr")
	if addr == "" {
		addr = ":8082"
	}
	readTimeout, err := durationEnv("read_timeout", 10*time.Second)
	if err != nil {
		return err
	}
	writeTimeout, err := durationEnv("write_timeout", 10*time.Second)
	if err != nil {
		return err
	}
	grace, err := durationEnv("healthcheck_interval", writeTimeout)
	if err != nil {
		return err
	}

	var stopping atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_/health", func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("/", handle)

	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadTimeout:       readTimeout,
		ReadHeaderTimeout: readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * writeTimeout,
		MaxHeaderBytes:    1 << 20,
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("golang-middleware handler listening on %s", addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Printf("%s received: draining for %s", s, grace)
	}
	stopping.Store(true)
	time.Sleep(grace)
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handle calls function.Handle with full duplex on, so that a handler may
// write its answer while it still reads the body (an echo that copies one
// to the other): otherwise Go's HTTP/1 server reads what is left of the
// body for itself once the answer starts, and the handler never sees it.
func handle(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).EnableFullDuplex()
	function.Handle(w, r)
}

// durationEnv reads a duration given as whole seconds ("10") or a Go duration ("10s").
func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("env %s=%q: want seconds or a Go duration: %w", name, v, err)
	}
	return d, nil
}
