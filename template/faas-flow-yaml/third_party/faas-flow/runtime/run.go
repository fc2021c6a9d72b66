package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/faas-flow/faas-flow/sdk"
)

// Run is the flow function's main: it loads the configuration (environment
// and secret files), builds the Server, listens on listen_addr and serves
// until ctx ends or SIGTERM/SIGINT arrives, then drains gracefully. The
// template's main.go calls it with the handler's Define.
func Run(ctx context.Context, define sdk.DefineFunc, opts ...Option) error {
	o := Options{}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg, err := LoadConfig(getenv, o.Secrets)
	if err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
		opts = append(opts, WithLogger(log))
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if o.unscanned {
		log.Warn("the build did not run `go generate` (runtime/storegen): DefineStateStore, DefineDataStore, OverrideStateStore and OverrideDataStore in handler.go are ignored if present")
	}
	if !o.NoDefaultObservability {
		opts = append([]Option{WithExtension(Observability(getenv))}, opts...)
	}
	srv, err := NewServer(cfg, define, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		_ = srv.Close(context.Background())
		return fmt.Errorf("listen on %s (listen_addr): %w", cfg.ListenAddr, err)
	}
	defer startGCFloor(uint64(cfg.GCHeapFloor), getenv)()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return srv.Serve(ctx, ln)
}
