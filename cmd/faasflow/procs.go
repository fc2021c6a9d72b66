package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
)

// procsFlag is --procs: the GOMAXPROCS of a local stack's gateway process
// and of its functions that set no CPU limit of their own. "auto" is 1 on
// machines with two CPUs or fewer and Go's default elsewhere, unless the
// environment sets GOMAXPROCS (then that is left to apply, to everything);
// 0 is Go's default.
//
// Why 1 on small machines: the stack is several processes (the gateway
// with NATS and etcd, one per function) that share the same cores, so
// parallelism comes from the processes. With more than one P each Go
// process hands goroutines between its threads, and every such wake-up is
// a futex call and often an inter-processor interrupt; on a 2-CPU VM that
// costs more than it buys (docs/benchmarks.md has the measurements).
type procsFlag struct{ n int }

func (p *procsFlag) String() string {
	if p.n < 0 {
		return "auto"
	}
	return strconv.Itoa(p.n)
}

func (p *procsFlag) Set(v string) error {
	if v == "auto" {
		p.n = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("want auto or a number >= 0, got %q", v)
	}
	p.n = n
	return nil
}

func (p *procsFlag) register(fs *flag.FlagSet) {
	p.n = -1
	fs.Var(p, "procs", "GOMAXPROCS of the gateway and of functions without a CPU limit: auto (1 on machines with <= 2 CPUs unless $GOMAXPROCS is set, else Go's default), 0 (Go's default) or N")
}

// value resolves auto against the machine's CPU count.
func (p *procsFlag) value(cpus int) int {
	if p.n >= 0 {
		return p.n
	}
	if cpus <= 2 {
		return 1
	}
	return 0
}

// apply sets this process's GOMAXPROCS (through e, so that tests running
// commands in-process keep theirs) and returns the value for functions.
func (p *procsFlag) apply(e env) int {
	if p.n < 0 && e.getenv != nil && e.getenv("GOMAXPROCS") != "" {
		return 0
	}
	n := p.value(runtime.NumCPU())
	if n > 0 && e.setProcs != nil {
		e.setProcs(n)
	}
	return n
}
