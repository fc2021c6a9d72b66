package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// oldReport is a report as the faasflow before the in-process flows and
// the chain throughput printed it.
const oldReport = `| measurement | p50 | p99 | n |
|---|---|---|---|
| direct call of ` + "`echo`" + ` through the gateway | 0.16 ms | 1.99 ms | 60 |
| **per-hop overhead** (chain − 10 paired direct calls) / 10 | 5.14 ms | 15.88 ms | 6 |

| rate | value |
|---|---|
| fan-out: node executions/s (8 requests, 4 in flight) | 1,220 |
| fan-out: CPU per node execution, whole stack (cores busy) | 3.342 ms (0.74 cores) |
| host calibration: SHA-256 of 32 MiB before / after the throughput phase (higher: busier host) | 32.00 ms / 26.96 ms |
`

func TestParseMarkdownReadsEveryFigureOfAnOldReport(t *testing.T) {
	rows := ParseMarkdown(oldReport)
	want := []Row{
		{"direct call of `echo` through the gateway (p50)", "0.16 ms", 0.16},
		{"direct call of `echo` through the gateway (p99)", "1.99 ms", 1.99},
		{"per-hop overhead (chain − 10 paired direct calls) / 10 (p50)", "5.14 ms", 5.14},
		{"per-hop overhead (chain − 10 paired direct calls) / 10 (p99)", "15.88 ms", 15.88},
		{"fan-out: node executions/s (8 requests, 4 in flight)", "1,220", 1220},
		{"fan-out: CPU per node execution, whole stack (cores busy)", "3.342 ms (0.74 cores)", 3.342},
		{"host calibration: SHA-256 of 32 MiB before / after the throughput phase (higher: busier host)", "32.00 ms / 26.96 ms", 32},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
}

func TestParseMarkdownReadsBackEveryRowOfANewReport(t *testing.T) {
	d := Dist{P50: 2 * time.Millisecond, P99: 5 * time.Millisecond, N: 3}
	r := &Report{Direct: d, Chain: d, HopOverhead: d, ChainLocal: d, LocalPerNode: d, Direct100: d, FanOut: d, FanOutLocal: d,
		ChainNodesPerSec: 500, Throughput: []Throughput{{Label: "chain", Requests: 500, InFlight: 50, NodesPerSec: 900, CPUPerNode: time.Millisecond, CPUCores: 1.5}},
		Calibration: [2]time.Duration{21 * time.Millisecond, 22 * time.Millisecond}}
	rows := ParseMarkdown(r.Markdown())
	// 8 distributions of two figures, 4 rates one at a time, a throughput
	// phase with its failures and CPU, the calibration and two ratios.
	if len(rows) != 8*2+4+3+1+2 {
		t.Fatalf("got %d rows: %+v", len(rows), rows)
	}
	labels := map[string]float64{}
	for _, row := range rows {
		labels[row.Label] = row.Value
	}
	for label, want := range map[string]float64{
		"orchestration per node: in-process chain / 10 (p99)":                                           5,
		"chain: node executions/s (500 requests, 50 in flight)":                                         900,
		"chain: CPU per node execution, whole stack (cores busy)":                                       1,
		"chain: node executions/s (one request at a time)":                                              500,
		"fan-out: CPU per node execution, whole stack (cores busy)":                                     math.NaN(),
		"direct call of `echo` through the gateway (p50)":                                               2,
		"fan-out p50 / 100 sequential direct calls p50":                                                 0,
		"host calibration: SHA-256 of 32 MiB before / after the throughput phase (higher: busier host)": 21,
	} {
		got, ok := labels[label]
		if math.IsNaN(want) {
			if ok {
				t.Errorf("%q is there, but no fan-out phase was run", label)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%q = %v (found %v), want %v", label, got, ok, want)
		}
	}
}

func TestMedianSkipsMissingRatios(t *testing.T) {
	nan := math.NaN()
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, nan, 2, 3}, 2.5},
		{[]float64{0.9}, 0.9},
	} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := Median([]float64{nan}); !math.IsNaN(got) {
		t.Errorf("Median of no number = %v, want NaN", got)
	}
}

func TestCompareSetsPairsSideBySideWithTheirRatios(t *testing.T) {
	row := func(label string, v float64, text string) Row { return Row{label, text, v} }
	pairs := []Pair{
		{Old: []Row{row("hop", 2, "2.00 ms"), row("gone", 1, "1")}, New: []Row{row("hop", 1, "1.00 ms"), row("added", 7, "7")}},
		{Old: []Row{row("hop", 2, "2.00 ms")}, New: []Row{row("hop", 3, "3.00 ms"), row("added", 8, "8")}},
		{Old: []Row{row("hop", 4, "4.00 ms"), row("failed", 0, "0")}, New: []Row{row("hop", 3, "3.00 ms"), row("failed", 0, "0")}},
	}
	cs := Compare(pairs)
	if len(cs) != 4 || cs[0].Label != "hop" || cs[1].Label != "added" || cs[2].Label != "failed" || cs[3].Label != "gone" {
		t.Fatalf("order: %+v", cs)
	}
	hop := cs[0]
	if hop.Ratios[0] != 0.5 || hop.Ratios[1] != 1.5 || hop.Ratios[2] != 0.75 || hop.Median != 0.75 {
		t.Fatalf("hop ratios %v median %v", hop.Ratios, hop.Median)
	}
	if !math.IsNaN(cs[1].Median) || cs[1].New[2] != "" || cs[1].Old[0] != "" {
		t.Fatalf("added: %+v", cs[1])
	}
	out := RenderComparison(cs, "v1.2.0", "this build")
	for _, want := range []string{
		"| hop | 0.75× |",
		"| added | – (not measured by the old binary) |",
		"| gone | – (not measured by the new binary) |",
		"| failed | 1.00× |",
		"**hop**\n\n| pair | old: v1.2.0 | new: this build | new/old |\n|---|---|---|---|\n| 1 | 2.00 ms | 1.00 ms | 0.50× |\n| 2 | 2.00 ms | 3.00 ms | 1.50× |\n| 3 | 4.00 ms | 3.00 ms | 0.75× |\n| median | | | 0.75× |\n",
		"| 3 | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}
