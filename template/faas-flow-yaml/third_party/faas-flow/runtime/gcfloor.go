package runtime

import (
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// A flow function's live heap is small (a few MB: records, hops, buffers)
// while it allocates quickly (tens of KB per hop), so with Go's default
// GOGC=100 it collects many times a second, and its GC costs more CPU than
// any single step of a hop. gcFloor keeps the heap goal at no less than a
// floor (gc_heap_floor) by raising the GC percent while the live heap is
// small; once the process's own percent (GOGC's default, 100) puts the goal
// above the floor, that percent applies, so big payloads cost no more
// memory than without it. It is re-tuned after every collection.
//
// It trades latency for throughput: fewer collections, but allocations
// spread over more memory, which is colder in the CPU's caches. So it is
// off unless gc_heap_floor is set.
type gcFloor struct {
	floor   uint64
	base    int // the GC percent without the floor
	percent int // the GC percent set last
	stopped atomic.Bool
	sample  []metrics.Sample
}

// liveHeapMetric is the heap that survived the last collection.
const liveHeapMetric = "/gc/heap/live:bytes"

// startGCFloor starts keeping the heap goal at floor bytes or more and
// returns a function that stops it and restores the GC percent. A floor of
// 0, or a process whose GOGC or GOMEMLIMIT is set, is left alone.
func startGCFloor(floor uint64, getenv func(string) string) (stop func()) {
	if floor == 0 || getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base <= 0 {
		return func() {}
	}
	g := &gcFloor{floor: floor, base: base, percent: base, sample: []metrics.Sample{{Name: liveHeapMetric}}}
	g.tune()
	g.arm()
	return func() {
		if !g.stopped.Swap(true) {
			debug.SetGCPercent(g.base)
		}
	}
}

// arm schedules tune (and the next arm) for after the next collection.
func (g *gcFloor) arm() {
	sentinel := new(gcSentinel)
	goruntime.AddCleanup(sentinel, func(g *gcFloor) {
		if g.stopped.Load() {
			return
		}
		g.tune()
		g.arm()
	}, g)
}

// gcSentinel is allocated only to be collected. It holds a pointer so that
// it is not one of the tiny allocations several objects share.
type gcSentinel struct {
	_ *int
	_ [16]byte
}

// tune sets the GC percent for the live heap now.
func (g *gcFloor) tune() {
	metrics.Read(g.sample)
	if g.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := gcPercentFor(g.sample[0].Value.Uint64(), g.floor, g.base)
	if p != g.percent && !g.stopped.Load() {
		g.percent = p
		debug.SetGCPercent(p)
	}
}

// gcPercentFor is the GC percent that puts the heap goal of a live heap of
// live bytes at floor (never below base, nor above 100 times base).
func gcPercentFor(live, floor uint64, base int) int {
	if live == 0 {
		live = 1 << 20
	}
	if live >= floor {
		return base
	}
	// goal = live * (1 + p/100) = floor
	p := int((floor-live)*100/live) + 1
	return min(max(p, base), 100*base)
}
