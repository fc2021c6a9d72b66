package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPUCountsFieldsAfterTheCommandName(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
	}{
		{"plain", "42 (echo) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 8 0", 3800 * time.Millisecond},
		{"spaces and parens in the name", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0", 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if err != nil || got != tt.want {
				t.Fatalf("parseStatCPU = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := parseStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("a truncated stat line was accepted")
	}
}

func TestProcessCPUGrowsWithWork(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100*time.Millisecond {
		t.Fatalf("300 ms of busy loop (%d turns) added only %s of CPU time", x, after-before)
	}
}

func TestCalibrationTimeGrowsWithTheJob(t *testing.T) {
	small, big := hashTime(4<<20), hashTime(64<<20)
	if small <= 0 || big < 4*small {
		t.Fatalf("hashing 4 MiB took %v and 64 MiB %v; want the second at least 4 times the first", small, big)
	}
}
