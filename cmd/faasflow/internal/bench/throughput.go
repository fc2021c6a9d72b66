package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// measureThroughputs runs each flow's throughput phase in turn (chain,
// in-process chain, fan-out, in-process fan-out) and appends them to
// r.Throughput.
func (b *runner) measureThroughputs(ctx context.Context, r *Report) error {
	o := b.o
	phases := []Throughput{
		{Label: "chain", Fn: chainFn, Nodes: chainNodes, Requests: o.ChainRequests, InFlight: o.ChainConcurrency},
		{Label: "in-process chain", Fn: chainLocal, Nodes: chainNodes, Requests: o.ChainRequests, InFlight: o.ChainConcurrency},
		{Label: "fan-out", Fn: fanFn, Nodes: fanNodes, Requests: o.Requests, InFlight: o.Concurrency},
		{Label: "in-process fan-out", Fn: fanLocal, Nodes: fanNodes, Requests: o.Requests, InFlight: o.Concurrency},
	}
	for _, t := range phases {
		if err := b.measureThroughput(ctx, &t); err != nil {
			return fmt.Errorf("%s throughput: %w", t.Label, err)
		}
		r.Throughput = append(r.Throughput, t)
		b.tick()
	}
	return nil
}

// measureThroughput keeps t.InFlight requests of t.Fn in flight until
// t.Requests are done, and fills in t.Failed, t.NodesPerSec and, with
// o.CPU, t.CPUPerNode and t.CPUCores, counting the nodes of the requests
// that succeeded. A request that fails is counted, not retried; the phase
// fails only when every request does.
func (b *runner) measureThroughput(ctx context.Context, t *Throughput) error {
	o := b.o
	var cpuStart time.Duration
	if o.CPU != nil {
		var err error
		if cpuStart, err = o.CPU(); err != nil {
			return fmt.Errorf("read the stack's CPU time: %w", err)
		}
	}
	start := time.Now()
	failed, err := b.inFlight(ctx, t.Fn, t.Requests, t.InFlight)
	if failed == t.Requests {
		return err
	}
	if err != nil && o.Progress != nil {
		fmt.Fprintf(o.Progress, "\n%s: %d of %d requests failed, the first with: %.300v\n", t.Label, failed, t.Requests, err)
	}
	t.Failed = failed
	elapsed := time.Since(start)
	nodes := (t.Requests - failed) * t.Nodes
	t.NodesPerSec = float64(nodes) / elapsed.Seconds()
	if o.CPU != nil {
		cpuEnd, err := o.CPU()
		if err != nil {
			return fmt.Errorf("read the stack's CPU time: %w", err)
		}
		used := cpuEnd - cpuStart
		t.CPUPerNode = used / time.Duration(nodes)
		t.CPUCores = used.Seconds() / elapsed.Seconds()
	}
	return nil
}

// inFlight makes requests calls of the flow fn (waiting for each result)
// from inFlight workers and returns, once all are done, how many failed
// and the first error.
func (b *runner) inFlight(ctx context.Context, fn string, requests, inFlight int) (int, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	failed := 0
	jobs := make(chan struct{})
	for w := 0; w < inFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if _, err := b.c.call(ctx, fn, "payload", true); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < requests; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return failed, firstErr
}
