package runtime

import (
	goruntime "runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentPutsTheHeapGoalAtTheFloor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name       string
		live, flor uint64
		base, want int
	}{
		{"a small live heap gets the floor as its goal", 2 * mib, 16 * mib, 100, 701},
		{"a live heap at half the floor needs no change", 8 * mib, 16 * mib, 100, 101},
		{"a live heap above the floor keeps the base percent", 40 * mib, 16 * mib, 100, 100},
		{"never below the base percent", 12 * mib, 16 * mib, 200, 200},
		{"never above a hundred times the base", 1, 16 * mib, 100, 10000},
		{"no reading yet counts as one MiB", 0, 16 * mib, 100, 1501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercentFor(tt.live, tt.flor, tt.base); got != tt.want {
				t.Fatalf("gcPercentFor(%d, %d, %d) = %d, want %d", tt.live, tt.flor, tt.base, got, tt.want)
			}
		})
	}
}

// gcPercent reads the GC percent in effect.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestGCFloorFollowsTheLiveHeap runs the floor in this process: raised
// while the live heap is small, back to the base once a big live heap
// reaches the floor, restored when stopped, and left alone when GOGC is
// set.
func TestGCFloorFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	waitFor := func(what string, ok func(int) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(gcPercent()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: GC percent %d", what, gcPercent())
			}
			goruntime.GC()
			time.Sleep(10 * time.Millisecond)
		}
	}
	noEnv := func(string) string { return "" }

	stop := startGCFloor(128<<20, noEnv)
	waitFor("small live heap", func(p int) bool { return p > 100 })
	big := make([]byte, 256<<20) // live and above the floor
	goruntime.GC()
	waitFor("live heap above the floor", func(p int) bool { return p == 100 })
	goruntime.KeepAlive(big)
	big = nil
	waitFor("small live heap again", func(p int) bool { return p > 100 })
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent after stop: %d, want 100", p)
	}
	goruntime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent changed after stop: %d", p)
	}

	stop = startGCFloor(128<<20, func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	defer stop()
	goruntime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent with GOGC set: %d, want it left alone", p)
	}
}
