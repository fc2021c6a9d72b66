package main

import (
	"flag"
	"fmt"
	"strconv"
)

// defaultGOGC is --gogc's "auto": the garbage collector's percent for a
// local stack's gateway process and its functions. The stack allocates
// quickly and keeps little (each hop is decoded, stored and forgotten), so
// with Go's default of 100 it collects many times a second and the
// collector took 10-15% of every process's CPU under load. At 400 it
// collects a quarter as often; the whole stack's CPU per node execution
// fell by a tenth to a sixth for about twice the resident memory
// (docs/benchmarks.md, results "the garbage collector's percent").
const defaultGOGC = 400

// gcFlag is --gogc: the GC percent of the gateway process and of functions
// that set neither GOGC nor GOMEMLIMIT themselves. "auto" is defaultGOGC
// unless the environment sets GOGC (then that applies, to everything, as
// Go reads it); 100 is Go's own default.
type gcFlag struct{ n int }

func (g *gcFlag) String() string {
	if g.n < 0 {
		return "auto"
	}
	return strconv.Itoa(g.n)
}

func (g *gcFlag) Set(v string) error {
	if v == "auto" {
		g.n = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return fmt.Errorf("want auto or a percent >= 1, got %q", v)
	}
	g.n = n
	return nil
}

func (g *gcFlag) register(fs *flag.FlagSet) {
	g.n = -1
	fs.Var(g, "gogc", "GC percent (GOGC) of the gateway and of functions that set no GOGC or GOMEMLIMIT: auto (400 unless $GOGC is set) or N; higher spends less CPU on garbage collection and more memory")
}

// apply sets this process's GC percent (through e, so that tests running
// commands in-process keep theirs) and returns the value for functions (0:
// leave them to Go's default or their own environment).
func (g *gcFlag) apply(e env) int {
	n := g.n
	if n < 0 {
		if e.getenv != nil && e.getenv("GOGC") != "" {
			return 0
		}
		n = defaultGOGC
	}
	if e.setGCPercent != nil {
		e.setGCPercent(n)
	}
	return n
}
