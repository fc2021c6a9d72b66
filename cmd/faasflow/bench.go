package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/faas-flow/faas-flow/cmd/faasflow/internal/bench"
)

// benchFlags are the flags of `faasflow bench`.
type benchFlags struct {
	local                       localFlags
	runs, conc, reqs            *int
	chainConc, chainReqs, pairs *int
	out, cpuProfile, memProfile *string
	compare                     *string
}

// register defines the flags on fs.
func (f *benchFlags) register(fs *flag.FlagSet) {
	f.local.register(fs, ".faasflow-bench", "bench.yml")
	f.runs = fs.Int("runs", 30, "paired chain/direct runs")
	f.conc = fs.Int("concurrency", 50, "fan-out requests in flight for the fan-out throughput figures")
	f.reqs = fs.Int("requests", 100, "fan-out requests for the fan-out throughput figures")
	f.chainConc = fs.Int("chain-concurrency", 50, "chain requests in flight for the chain throughput figures")
	f.chainReqs = fs.Int("chain-requests", 500, "chain requests for the chain throughput figures")
	f.out = fs.String("markdown", "", "also write the result table to this file")
	f.cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of this process (gateway, NATS, etcd, queue worker) during the measurements to this file")
	f.memProfile = fs.String("memprofile", "", "write a heap profile of this process (gateway, NATS, etcd, queue worker) after the measurements to this file")
	f.compare = fs.String("compare", "", "build the faasflow of the git commit `REF` (with this tree's benchmark laid over it when it builds) and run it and this one alternately, each on a fresh state dir with the same measurement flags, then print every figure side by side with the ratio new/old")
	f.pairs = fs.Int("pairs", 3, "with --compare: old/new pairs of runs")
}

// runBench starts a local stack, deploys bench.yml and measures the async
// chains and fan-outs against direct calls of the same worker; with
// --compare it runs two builds of faasflow alternately instead.
func runBench(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("bench", e, "bench [flags]")
	var f benchFlags
	f.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *f.compare != "" {
		if *f.pairs < 1 {
			return usagef("--pairs %d: want at least 1", *f.pairs)
		}
		return runCompare(ctx, e, *f.compare, *f.pairs, forwardedFlags(fs), *f.out)
	}
	return runBenchOnce(ctx, e, &f)
}

// runBenchOnce is one benchmark on a stack of its own.
func runBenchOnce(ctx context.Context, e env, f *benchFlags) error {
	loc, err := f.local.startAndDeploy(ctx, e)
	if err != nil {
		return err
	}
	defer loc.Close()
	if *f.cpuProfile != "" {
		p, err := os.Create(*f.cpuProfile)
		if err != nil {
			return err
		}
		defer p.Close()
		if err := pprof.StartCPUProfile(p); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(e.stderr, "measuring (%d paired runs)", *f.runs)
	stackCPU := func() (time.Duration, error) {
		return bench.ProcessCPU(append(loc.FunctionPIDs(), os.Getpid())...)
	}
	r, err := bench.Run(ctx, bench.Options{GatewayURL: loc.URL(), Runs: *f.runs,
		Concurrency: *f.conc, Requests: *f.reqs, ChainConcurrency: *f.chainConc, ChainRequests: *f.chainReqs,
		Progress: e.stderr, CPU: stackCPU})
	if err != nil {
		return err
	}
	if *f.memProfile != "" {
		if err := writeHeapProfile(*f.memProfile); err != nil {
			return err
		}
	}
	md := r.Markdown()
	fmt.Fprintln(e.stdout, md)
	if *f.out != "" {
		if err := os.WriteFile(*f.out, []byte(md), 0o644); err != nil {
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
