package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faas-flow/faas-flow/cmd/faasflow/internal/bench"
)

func TestBenchFlagsForwardTheirValuesSetOrDefault(t *testing.T) {
	fs := newFlagSet("bench", env{stderr: &strings.Builder{}}, "bench")
	var f benchFlags
	f.register(fs)
	if _, err := parse(fs, []string{"--runs", "5", "--chain-requests=40", "--compare", "abc", "--pairs", "2", "--state-dir", "x"}); err != nil {
		t.Fatal(err)
	}
	got := forwardedFlags(fs)
	want := []flagValue{{"runs", "5"}, {"requests", "100"}, {"concurrency", "50"}, {"chain-requests", "40"}, {"chain-concurrency", "50"}, {"procs", "auto"}, {"gogc", "auto"}}
	if !reflect.DeepEqual(got, want) || *f.compare != "abc" || *f.pairs != 2 {
		t.Fatalf("forwarded %v (compare %q, pairs %d), want %v", got, *f.compare, *f.pairs, want)
	}
}

func TestBenchRejectsFewerThanOnePair(t *testing.T) {
	r := cli(t, "", "bench", "--compare", "HEAD", "--pairs", "0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--pairs 0") {
		t.Fatalf("= %d %q", r.code, r.stderr)
	}
}

func TestOldBuildIsAWorktreeBuiltAndRemoved(t *testing.T) {
	p := oldBuild("repo", "v1.2.0", "cmp")
	want := buildPlan{
		add:    cmdSpec{dir: "repo", args: []string{"git", "worktree", "add", "--detach", "cmp/old", "v1.2.0"}},
		build:  cmdSpec{dir: "cmp/old", args: []string{"go", "build", "-o", "cmp/faasflow-old", "./cmd/faasflow"}},
		remove: cmdSpec{dir: "repo", args: []string{"git", "worktree", "remove", "--force", "cmp/old"}},
		repo:   "repo", tree: "cmp/old", bin: "cmp/faasflow-old",
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("plan %+v\nwant %+v", p, want)
	}
}

func TestBenchFilesExistAndCopyOverAnotherTree(t *testing.T) {
	repo := filepath.Join("..", "..")
	to := t.TempDir()
	if err := copyPaths(repo, to, benchFiles()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bench.yml", "examples/bench/chain10local/handler.go", "cmd/faasflow/internal/bench/compare.go", "cmd/faasflow/benchbuild.go"} {
		want, err := os.ReadFile(filepath.Join(repo, p))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(to, p)); err != nil || string(got) != string(want) {
			t.Errorf("%s: copied %d bytes of %d (%v)", p, len(got), len(want), err)
		}
	}
}

func TestSideArgsLeaveOutWhatTheOldBinaryLacks(t *testing.T) {
	usage := "Usage: faasflow bench [flags]\n\nFlags:\n  -concurrency int\n    \tfan-out requests in flight (default 4)\n  -markdown string\n    \talso write\n  -procs value\n  -runs int\n    \t-not-a-flag here\n  -state-dir string\n"
	supported := helpFlags(usage)
	if !reflect.DeepEqual(supported, map[string]bool{"concurrency": true, "markdown": true, "procs": true, "runs": true, "state-dir": true}) {
		t.Fatalf("helpFlags = %v", supported)
	}
	flags := []flagValue{{"runs", "5"}, {"concurrency", "50"}, {"chain-requests", "500"}, {"procs", "auto"}}
	args, skipped := sideArgs(flags, supported, "/s", "/s.md")
	if want := []string{"bench", "--state-dir", "/s", "--markdown", "/s.md", "--runs=5", "--concurrency=50", "--procs=auto"}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %q, want %q", args, want)
	}
	if !reflect.DeepEqual(skipped, []string{"chain-requests"}) {
		t.Fatalf("skipped %q", skipped)
	}
	if args, skipped = sideArgs(flags, nil, "/s", "/s.md"); len(args) != 9 || skipped != nil {
		t.Fatalf("with every flag supported: %q, skipped %q", args, skipped)
	}
}

func TestCompareReportNamesTheSidesAndTheSkippedFlags(t *testing.T) {
	sides := [2]side{{name: "v1.2.0"}, {name: "this build"}}
	res := []bench.Pair{{Old: bench.ParseMarkdown("| rate | value |\n|---|---|\n| x | 2 |\n"), New: bench.ParseMarkdown("| rate | value |\n|---|---|\n| x | 3 |\n")}}
	out := compareReport(sides, 1, []flagValue{{"runs", "5"}}, []string{"chain-requests", "chain-concurrency"}, res)
	for _, want := range []string{"old: faasflow of v1.2.0; new: this build. 1 pair run", "with --runs=5", "lacks --chain-requests, --chain-concurrency", "| x | 1.50× |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchRunsEveryPhaseOnASmallLoad runs the whole benchmark once with
// tiny settings (about 30 s, most of it building the functions).
func TestBenchRunsEveryPhaseOnASmallLoad(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(t.TempDir(), "report.md")
	r := cli(t, "", "bench", "--state-dir", t.TempDir(), "-f", filepath.Join(wd, "..", "..", "bench.yml"), "--markdown", md,
		"--runs", "3", "--requests", "2", "--concurrency", "2", "--chain-requests", "4", "--chain-concurrency", "2")
	if r.code != 0 {
		t.Fatalf("bench = %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	rows := bench.ParseMarkdown(string(b))
	if len(rows) != 35 {
		t.Fatalf("%d figures, want 35:\n%s", len(rows), b)
	}
	for _, row := range rows {
		if strings.Contains(row.Label, "failed requests") {
			if row.Value != 0 {
				t.Errorf("%q = %q", row.Label, row.Text)
			}
			continue
		}
		if !(row.Value > 0) {
			t.Errorf("%q = %q", row.Label, row.Text)
		}
	}
}
