package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/faas-flow/faas-flow/gateway"
)

// localFlags are the flags of commands that start their own local stack
// (demo, bench).
type localFlags struct {
	stateDir string
	file     string
	verbose  bool
	procs    procsFlag
	gogc     gcFlag
}

func (l *localFlags) register(fs *flag.FlagSet, defStateDir, defFile string) {
	fs.StringVar(&l.stateDir, "state-dir", defStateDir, "state dir of the stack this command starts (kept between runs: builds are cached)")
	fs.StringVar(&l.file, "f", defFile, "stack file to deploy")
	fs.BoolVar(&l.verbose, "verbose", false, "log gateway events")
	l.procs.register(fs)
	l.gogc.register(fs)
}

// startAndDeploy starts a local stack on a free port and deploys the stack
// file, printing its progress on stderr.
func (l *localFlags) startAndDeploy(ctx context.Context, e env) (*gateway.Local, error) {
	o := gateway.LocalOptions{StateDir: l.stateDir, FunctionProcs: l.procs.apply(e), FunctionGOGC: l.gogc.apply(e)}
	if l.verbose {
		o.Logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	start := time.Now()
	loc, err := gateway.StartLocal(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	fmt.Fprintf(e.stderr, "local stack up in %s: gateway %s, NATS %s, etcd %v, state %s\n",
		time.Since(start).Round(time.Millisecond), loc.URL(), loc.NATSURL(), loc.EtcdEndpoints(), loc.StateDir())
	fmt.Fprintf(e.stderr, "deploying %s (first run builds every function, about a minute)\n", l.file)
	start = time.Now()
	if err := loc.Deploy(ctx, l.file, e.stderr); err != nil {
		_ = loc.Close()
		return nil, fmt.Errorf("deploy %s: %w", l.file, err)
	}
	fmt.Fprintf(e.stderr, "deployed in %s\n", time.Since(start).Round(time.Millisecond))
	return loc, nil
}
