package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/faas-flow/faas-flow/cmd/faasflow/internal/bench"
)

// runBench starts a local stack, deploys bench.yml and measures the async
// chain and the fan-out against direct calls of the same worker.
func runBench(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("bench", e, "bench [flags]")
	var l localFlags
	l.register(fs, ".faasflow-bench", "bench.yml")
	runs := fs.Int("runs", 30, "paired chain/direct runs")
	conc := fs.Int("concurrency", 4, "fan-out requests in flight for the throughput figure")
	reqs := fs.Int("requests", 16, "fan-out requests for the throughput figure")
	out := fs.String("markdown", "", "also write the result table to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (gateway, NATS, etcd, queue worker) during the measurements to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile of this process (gateway, NATS, etcd, queue worker) after the measurements to this file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	loc, err := l.startAndDeploy(ctx, e)
	if err != nil {
		return err
	}
	defer loc.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(e.stderr, "measuring (%d paired runs)", *runs)
	stackCPU := func() (time.Duration, error) {
		return bench.ProcessCPU(append(loc.FunctionPIDs(), os.Getpid())...)
	}
	r, err := bench.Run(ctx, bench.Options{GatewayURL: loc.URL(), Runs: *runs, Concurrency: *conc, Requests: *reqs, Progress: e.stderr, CPU: stackCPU})
	if err != nil {
		return err
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	md := r.Markdown()
	fmt.Fprintln(e.stdout, md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeHeapProfile writes this process's heap profile, after a GC so that
// it shows what is live, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
