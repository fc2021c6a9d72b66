package bench

import (
	"fmt"
	"strings"
	"time"
)

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Markdown renders the report as the tables in docs/benchmarks.md. The
// labels of the rows an earlier faasflow also printed are kept as they
// were, so that `bench --compare` can set the two side by side.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| measurement | p50 | p99 | n |\n|---|---|---|---|\n")
	row := func(name string, d Dist) {
		fmt.Fprintf(&b, "| %s | %s | %s | %d |\n", name, ms(d.P50), ms(d.P99), d.N)
	}
	row("direct call of `echo` through the gateway", r.Direct)
	row("10-node async chain, whole request (`?wait`)", r.Chain)
	row("**per-hop overhead** (chain − 10 paired direct calls) / 10", r.HopOverhead)
	row("10-node in-process chain (`Modify`), whole request (`?wait`)", r.ChainLocal)
	row("**orchestration per node**: in-process chain / 10", r.LocalPerNode)
	row("100 direct `echo` calls in sequence", r.Direct100)
	row("100-branch fan-out/fan-in, whole request", r.FanOut)
	row("100-branch in-process fan-out/fan-in (`Modify`), whole request", r.FanOutLocal)
	fmt.Fprintf(&b, "\n| rate | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| chain: node executions/s (one request at a time) | %.0f |\n", r.ChainNodesPerSec)
	fmt.Fprintf(&b, "| in-process chain: node executions/s (one request at a time) | %.0f |\n", r.ChainLocalNodesPerSec)
	fmt.Fprintf(&b, "| fan-out: node executions/s (one request at a time) | %.0f |\n", r.FanOutNodesPerSec)
	fmt.Fprintf(&b, "| in-process fan-out: node executions/s (one request at a time) | %.0f |\n", r.FanOutLocalNodesPerSec)
	for _, t := range r.Throughput {
		fmt.Fprintf(&b, "| %s: node executions/s (%d requests, %d in flight) | %.0f |\n", t.Label, t.Requests, t.InFlight, t.NodesPerSec)
		fmt.Fprintf(&b, "| %s: failed requests of those | %d |\n", t.Label, t.Failed)
		if t.CPUPerNode > 0 {
			fmt.Fprintf(&b, "| %s: CPU per node execution, whole stack (cores busy) | %.3f ms (%.2f cores) |\n",
				t.Label, float64(t.CPUPerNode)/float64(time.Millisecond), t.CPUCores)
		}
	}
	if r.Calibration[0] > 0 {
		fmt.Fprintf(&b, "| host calibration: SHA-256 of 32 MiB before / after the throughput phase (higher: busier host) | %s / %s |\n",
			ms(r.Calibration[0]), ms(r.Calibration[1]))
	}
	fmt.Fprintf(&b, "| chain p50 / (10 × direct p50) | %.2f× |\n", r.ChainVsDirect)
	fmt.Fprintf(&b, "| fan-out p50 / 100 sequential direct calls p50 | %.2f× |\n", r.FanVsSeq)
	return b.String()
}
