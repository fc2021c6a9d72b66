package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
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
	// throughput measurement (default 50), Requests how many in all
	// (default 2*Concurrency).
	Concurrency int
	Requests    int
	// ChainConcurrency is the number of chain requests in flight for the
	// chain's throughput measurement (default 50), ChainRequests how many
	// in all (default 10*ChainConcurrency).
	ChainConcurrency int
	ChainRequests    int
	// Progress receives a dot per run (optional).
	Progress io.Writer
	// CPU, when set, returns the CPU time used so far by every process of
	// the stack (gateway, queue, NATS, etcd, functions); the report then
	// gives the CPU cost of one node execution in each throughput phase.
	CPU func() (time.Duration, error)
}

// The functions of bench.yml and the shape of their flows.
const (
	echoFn      = "echo"
	chainFn     = "bench-chain"
	chainLocal  = "bench-chain-local"
	fanFn       = "bench-fanout"
	fanLocal    = "bench-fanout-local"
	chainNodes  = 10
	fanBranches = 100
	fanNodes    = fanBranches + 1 // the foreach node and its branches
)

// Report holds the measurements.
type Report struct {
	Runs        int
	Direct      Dist // one echo call through the gateway
	Chain       Dist // whole 10-node chain, caller's view
	HopOverhead Dist // per hop: (chain - 10 direct calls) / 10, paired
	// ChainLocal is the whole 10-node in-process chain (Modify nodes), and
	// LocalPerNode its time per node: the orchestration's own cost.
	ChainLocal, LocalPerNode Dist
	FanOut                   Dist // whole 100-branch fan-out
	FanOutLocal              Dist // whole 100-branch in-process fan-out
	Direct100                Dist // 100 echo calls in sequence
	// Node executions per second with one request at a time.
	ChainNodesPerSec, ChainLocalNodesPerSec   float64
	FanOutNodesPerSec, FanOutLocalNodesPerSec float64
	// Throughput holds the phases with many requests in flight, in order:
	// chain, in-process chain, fan-out, in-process fan-out.
	Throughput              []Throughput
	ChainVsDirect, FanVsSeq float64 // ratios of medians
	// Calibration is Calibrate's time before and after the throughput
	// phases: how fast the host was during the run.
	Calibration [2]time.Duration
}

// Throughput is one phase with many requests of one flow in flight.
type Throughput struct {
	// Label names the flow in the report ("chain", "in-process fan-out").
	Label              string
	Fn                 string
	Nodes              int // node executions per request
	Requests, InFlight int
	// Failed counts the requests that did not succeed (the gateway or the
	// flow refused or failed them); their nodes are not counted.
	Failed      int
	NodesPerSec float64
	// CPUPerNode is the stack's CPU time per node execution (0: not
	// measured), CPUCores the cores it kept busy.
	CPUPerNode time.Duration
	CPUCores   float64
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
// The phases, in order: warm up, the chains against paired direct calls
// (measureChain), the fan-outs against sequences of direct calls
// (measureFanOut), then the throughput of each flow with many requests in
// flight (measureThroughputs), between two host calibrations.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	b := &runner{o: o, c: client{
		hc:  &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		url: strings.TrimRight(o.GatewayURL, "/"),
	}}
	if err := b.warmUp(ctx); err != nil {
		return nil, err
	}
	r := &Report{Runs: o.Runs}
	if err := b.measureChain(ctx, r); err != nil {
		return nil, err
	}
	if err := b.measureFanOut(ctx, r); err != nil {
		return nil, err
	}
	r.Calibration[0] = Calibrate()
	if err := b.measureThroughputs(ctx, r); err != nil {
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
		o.Concurrency = 50
	}
	if o.Requests <= 0 {
		o.Requests = 2 * o.Concurrency
	}
	if o.ChainConcurrency <= 0 {
		o.ChainConcurrency = 50
	}
	if o.ChainRequests <= 0 {
		o.ChainRequests = 10 * o.ChainConcurrency
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
		for _, fn := range []string{echoFn, chainFn, chainLocal} {
			if _, err := b.c.call(ctx, fn, "warm", fn != echoFn); err != nil {
				return fmt.Errorf("warm-up %s: %w", fn, err)
			}
		}
	}
	for _, fn := range []string{fanFn, fanLocal} {
		if _, err := b.c.call(ctx, fn, "warm", true); err != nil {
			return fmt.Errorf("warm-up %s: %w", fn, err)
		}
	}
	return nil
}

// measureChain runs Runs times chainNodes direct echo calls, then the
// chain, then the in-process chain, and fills in Direct, Chain,
// HopOverhead (each chain against its own direct calls), ChainLocal,
// LocalPerNode, the chains' node rates and ChainVsDirect.
func (b *runner) measureChain(ctx context.Context, r *Report) error {
	var direct, chain, overhead, local, perNode []time.Duration
	for i := 0; i < b.o.Runs; i++ {
		var seq time.Duration
		for j := 0; j < chainNodes; j++ {
			d, err := b.c.call(ctx, echoFn, "payload", false)
			if err != nil {
				return err
			}
			direct = append(direct, d)
			seq += d
		}
		d, err := b.c.call(ctx, chainFn, "payload", true)
		if err != nil {
			return err
		}
		chain = append(chain, d)
		overhead = append(overhead, (d-seq)/chainNodes)
		if d, err = b.c.call(ctx, chainLocal, "payload", true); err != nil {
			return err
		}
		local = append(local, d)
		perNode = append(perNode, d/chainNodes)
		b.tick()
	}
	r.Direct, r.Chain, r.HopOverhead = dist(direct), dist(chain), dist(overhead)
	r.ChainLocal, r.LocalPerNode = dist(local), dist(perNode)
	r.ChainNodesPerSec = chainNodes / r.Chain.P50.Seconds()
	r.ChainLocalNodesPerSec = chainNodes / r.ChainLocal.P50.Seconds()
	r.ChainVsDirect = float64(r.Chain.P50) / float64(chainNodes*r.Direct.P50)
	return nil
}

// measureFanOut runs Runs/3 times (at least 3) fanBranches direct echo
// calls in sequence, then the fan-out, then the in-process fan-out, and
// fills in FanOut, FanOutLocal, Direct100, their node rates and FanVsSeq.
func (b *runner) measureFanOut(ctx context.Context, r *Report) error {
	fanRuns := max(3, b.o.Runs/3)
	var fan, local, seq100 []time.Duration
	for i := 0; i < fanRuns; i++ {
		start := time.Now()
		for j := 0; j < fanBranches; j++ {
			if _, err := b.c.call(ctx, echoFn, "payload", false); err != nil {
				return err
			}
		}
		seq100 = append(seq100, time.Since(start))
		d, err := b.c.call(ctx, fanFn, "payload", true)
		if err != nil {
			return err
		}
		fan = append(fan, d)
		if d, err = b.c.call(ctx, fanLocal, "payload", true); err != nil {
			return err
		}
		local = append(local, d)
		b.tick()
	}
	r.FanOut, r.FanOutLocal, r.Direct100 = dist(fan), dist(local), dist(seq100)
	r.FanOutNodesPerSec = fanNodes / r.FanOut.P50.Seconds()
	r.FanOutLocalNodesPerSec = fanNodes / r.FanOutLocal.P50.Seconds()
	r.FanVsSeq = float64(r.FanOut.P50) / float64(r.Direct100.P50)
	return nil
}
