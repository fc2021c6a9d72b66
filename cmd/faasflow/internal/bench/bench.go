package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/examples/demo"
)

// Options configure a benchmark run.
type Options struct {
	GatewayURL string
	// Runs is the number of paired chain/direct runs (default 30); the
	// fan-out is measured Runs/3 times (at least 3).
	Runs int
	// Concurrency is the number of fan-out requests in flight for the
	// throughput measurement (default 4), Requests how many in all
	// (default 4*Concurrency).
	Concurrency int
	Requests    int
	// Progress receives a dot per run (optional).
	Progress io.Writer
	// CPU, when set, returns the CPU time used so far by every process of
	// the stack (gateway, queue, NATS, etcd, functions); the report then
	// gives the CPU cost of one node execution in the throughput phase.
	CPU func() (time.Duration, error)
}

const (
	chainNodes  = 10
	fanBranches = 100
	fanNodes    = fanBranches + 1 // the foreach node and its branches
)

// Report holds the measurements.
type Report struct {
	Runs                  int
	Direct                Dist // one echo call through the gateway
	Chain                 Dist // whole 10-node chain, caller's view
	HopOverhead           Dist // per hop: (chain - 10 direct calls) / 10, paired
	FanOut                Dist // whole 100-branch fan-out
	Direct100             Dist // 100 echo calls in sequence
	ChainNodesPerSec      float64
	FanOutNodesPerSec     float64 // one fan-out at a time
	ThroughputNodesPerSec float64 // Concurrency fan-outs in flight
	// CPUPerNode is the stack's CPU time per node execution in the
	// throughput phase (0: not measured), CPUCores the cores it kept busy.
	CPUPerNode              time.Duration
	CPUCores                float64
	Concurrency, Requests   int
	ChainVsDirect, FanVsSeq float64 // ratios of medians
	// Calibration is Calibrate's time before and after the throughput
	// phase: how fast the host was during the run.
	Calibration [2]time.Duration
}

// Dist is a latency distribution.
type Dist struct {
	P50, P99, Min, Max time.Duration
	N                  int
}

// dist is the distribution of the durations d (the zero Dist when none).
func dist(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pick := func(q float64) time.Duration {
		i := int(q*float64(len(s)-1) + 0.5)
		return s[i]
	}
	return Dist{P50: pick(0.5), P99: pick(0.99), Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// client calls the stack's functions.
type client struct {
	hc  *http.Client
	url string
}

// call invokes fn with body and returns how long it took; with wait, the
// call waits for the flow's result (demo.Invoke). Any answer but 200 is an
// error.
func (c client) call(ctx context.Context, fn, body string, wait bool) (time.Duration, error) {
	start := time.Now()
	var status int
	var out string
	var err error
	if wait {
		status, out, _, err = demo.Invoke(ctx, c.hc, c.url, fn, body, time.Minute)
	} else {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/function/"+fn, strings.NewReader(body))
		if err == nil {
			var resp *http.Response
			if resp, err = c.hc.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				status, out = resp.StatusCode, string(b)
			}
		}
	}
	el := time.Since(start)
	if err != nil {
		return el, err
	}
	if status != http.StatusOK {
		return el, fmt.Errorf("%s answered %d: %.200s", fn, status, out)
	}
	return el, nil
}

// Run measures the functions of bench.yml on the stack at o.GatewayURL.
//
// The phases, in order: warm up, the chain against paired direct calls
// (measureChain), the fan-out against sequences of direct calls
// (measureFanOut), then the throughput with Concurrency fan-outs in flight
// (measureThroughput), between two host calibrations.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	b := &runner{o: o, c: client{
		hc:  &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		url: strings.TrimRight(o.GatewayURL, "/"),
	}}
	if err := b.warmUp(ctx); err != nil {
		return nil, err
	}
	r := &Report{Runs: o.Runs, Concurrency: o.Concurrency, Requests: o.Requests}
	if err := b.measureChain(ctx, r); err != nil {
		return nil, err
	}
	if err := b.measureFanOut(ctx, r); err != nil {
		return nil, err
	}
	r.Calibration[0] = Calibrate()
	if err := b.measureThroughput(ctx, r); err != nil {
		return nil, err
	}
	r.Calibration[1] = Calibrate()
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	return r, nil
}

// withDefaults fills in the documented defaults.
func (o Options) withDefaults() Options {
	if o.Runs <= 0 {
		o.Runs = 30
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Requests <= 0 {
		o.Requests = 4 * o.Concurrency
	}
	return o
}

// runner runs the phases of one benchmark.
type runner struct {
	o Options
	c client
}

// tick shows progress: a dot per run.
func (b *runner) tick() {
	if b.o.Progress != nil {
		fmt.Fprint(b.o.Progress, ".")
	}
}

// warmUp makes the first calls, which start connections and page in the
// binaries, so that no measurement pays for them.
func (b *runner) warmUp(ctx context.Context) error {
	for i := 0; i < 3; i++ {
		if _, err := b.c.call(ctx, "echo", "warm", false); err != nil {
			return fmt.Errorf("warm-up echo: %w", err)
		}
		if _, err := b.c.call(ctx, "bench-chain", "warm", true); err != nil {
			return fmt.Errorf("warm-up chain: %w", err)
		}
	}
	if _, err := b.c.call(ctx, "bench-fanout", "warm", true); err != nil {
		return fmt.Errorf("warm-up fan-out: %w", err)
	}
	return nil
}

// measureChain runs Runs times chainNodes direct echo calls then the chain,
// and fills in Direct, Chain, HopOverhead (each chain against its own
// direct calls), ChainNodesPerSec and ChainVsDirect.
func (b *runner) measureChain(ctx context.Context, r *Report) error {
	var direct, chain, overhead []time.Duration
	for i := 0; i < b.o.Runs; i++ {
		var seq time.Duration
		for j := 0; j < chainNodes; j++ {
			d, err := b.c.call(ctx, "echo", "payload", false)
			if err != nil {
				return err
			}
			direct = append(direct, d)
			seq += d
		}
		d, err := b.c.call(ctx, "bench-chain", "payload", true)
		if err != nil {
			return err
		}
		chain = append(chain, d)
		overhead = append(overhead, (d-seq)/chainNodes)
		b.tick()
	}
	r.Direct, r.Chain, r.HopOverhead = dist(direct), dist(chain), dist(overhead)
	r.ChainNodesPerSec = chainNodes / r.Chain.P50.Seconds()
	r.ChainVsDirect = float64(r.Chain.P50) / float64(chainNodes*r.Direct.P50)
	return nil
}

// measureFanOut runs Runs/3 times (at least 3) fanBranches direct echo
// calls in sequence then the fan-out, and fills in FanOut, Direct100,
// FanOutNodesPerSec and FanVsSeq.
func (b *runner) measureFanOut(ctx context.Context, r *Report) error {
	fanRuns := max(3, b.o.Runs/3)
	var fan, seq100 []time.Duration
	for i := 0; i < fanRuns; i++ {
		start := time.Now()
		for j := 0; j < fanBranches; j++ {
			if _, err := b.c.call(ctx, "echo", "payload", false); err != nil {
				return err
			}
		}
		seq100 = append(seq100, time.Since(start))
		d, err := b.c.call(ctx, "bench-fanout", "payload", true)
		if err != nil {
			return err
		}
		fan = append(fan, d)
		b.tick()
	}
	r.FanOut, r.Direct100 = dist(fan), dist(seq100)
	r.FanOutNodesPerSec = fanNodes / r.FanOut.P50.Seconds()
	r.FanVsSeq = float64(r.FanOut.P50) / float64(r.Direct100.P50)
	return nil
}

// measureThroughput keeps Concurrency fan-outs in flight until Requests are
// done, and fills in ThroughputNodesPerSec and, with o.CPU, CPUPerNode and
// CPUCores.
func (b *runner) measureThroughput(ctx context.Context, r *Report) error {
	o := b.o
	var cpuStart time.Duration
	if o.CPU != nil {
		var err error
		if cpuStart, err = o.CPU(); err != nil {
			return fmt.Errorf("read the stack's CPU time: %w", err)
		}
	}
	start := time.Now()
	if err := b.fanOutsInFlight(ctx); err != nil {
		return err
	}
	elapsed := time.Since(start)
	r.ThroughputNodesPerSec = float64(o.Requests*fanNodes) / elapsed.Seconds()
	if o.CPU != nil {
		cpuEnd, err := o.CPU()
		if err != nil {
			return fmt.Errorf("read the stack's CPU time: %w", err)
		}
		used := cpuEnd - cpuStart
		r.CPUPerNode = used / time.Duration(o.Requests*fanNodes)
		r.CPUCores = used.Seconds() / elapsed.Seconds()
	}
	return nil
}

// fanOutsInFlight makes Requests fan-out calls from Concurrency workers
// and returns the first error, once all are done.
func (b *runner) fanOutsInFlight(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan struct{})
	for w := 0; w < b.o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if _, err := b.c.call(ctx, "bench-fanout", "payload", true); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				b.tick()
			}
		}()
	}
	for i := 0; i < b.o.Requests; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return firstErr
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Markdown renders the report as the table in docs/benchmarks.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| measurement | p50 | p99 | n |\n|---|---|---|---|\n")
	row := func(name string, d Dist) {
		fmt.Fprintf(&b, "| %s | %s | %s | %d |\n", name, ms(d.P50), ms(d.P99), d.N)
	}
	row("direct call of `echo` through the gateway", r.Direct)
	row("10-node async chain, whole request (`?wait`)", r.Chain)
	row("**per-hop overhead** (chain − 10 paired direct calls) / 10", r.HopOverhead)
	row("100 direct `echo` calls in sequence", r.Direct100)
	row("100-branch fan-out/fan-in, whole request", r.FanOut)
	fmt.Fprintf(&b, "\n| rate | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| chain: node executions/s (one request at a time) | %.0f |\n", r.ChainNodesPerSec)
	fmt.Fprintf(&b, "| fan-out: node executions/s (one request at a time) | %.0f |\n", r.FanOutNodesPerSec)
	fmt.Fprintf(&b, "| fan-out: node executions/s (%d requests, %d in flight) | %.0f |\n", r.Requests, r.Concurrency, r.ThroughputNodesPerSec)
	if r.CPUPerNode > 0 {
		fmt.Fprintf(&b, "| fan-out: CPU per node execution, whole stack (cores busy) | %.3f ms (%.2f cores) |\n",
			float64(r.CPUPerNode)/float64(time.Millisecond), r.CPUCores)
	}
	if r.Calibration[0] > 0 {
		fmt.Fprintf(&b, "| host calibration: SHA-256 of 32 MiB before / after the throughput phase (higher: busier host) | %s / %s |\n",
			ms(r.Calibration[0]), ms(r.Calibration[1]))
	}
	fmt.Fprintf(&b, "| chain p50 / (10 × direct p50) | %.2f× |\n", r.ChainVsDirect)
	fmt.Fprintf(&b, "| fan-out p50 / 100 sequential direct calls p50 | %.2f× |\n", r.FanVsSeq)
	return b.String()
}
