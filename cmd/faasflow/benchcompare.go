package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/cmd/faasflow/internal/bench"
)

// flagValue is one flag given to a compared run.
type flagValue struct{ name, value string }

// measurementFlags names the flags of bench that say what a run measures;
// a compared run gets each with the value this one has (set or default),
// so that both builds measure the same thing.
func measurementFlags() []string {
	return []string{"runs", "requests", "concurrency", "chain-requests", "chain-concurrency", "procs", "gogc"}
}

// forwardedFlags reads the measurement flags' values from fs.
func forwardedFlags(fs *flag.FlagSet) []flagValue {
	var out []flagValue
	for _, name := range measurementFlags() {
		if f := fs.Lookup(name); f != nil {
			out = append(out, flagValue{name, f.Value.String()})
		}
	}
	return out
}

// helpFlags returns the flag names a `bench -h` usage text lists.
func helpFlags(usage string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(usage, "\n") {
		// The flag package prints "  -name type" and its usage below,
		// indented further.
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(strings.TrimSpace(line), "-"), " ")
		if name != "" {
			out[name] = true
		}
	}
	return out
}

// sideArgs is the command line of one compared run: bench on a state dir
// and a Markdown file of its own, with those of flags that the binary
// supports (nil: all). It also returns the names of the flags left out.
func sideArgs(flags []flagValue, supported map[string]bool, stateDir, markdown string) (args, skipped []string) {
	args = []string{"bench", "--state-dir", stateDir, "--markdown", markdown}
	for _, f := range flags {
		if supported != nil && !supported[f.name] {
			skipped = append(skipped, f.name)
			continue
		}
		args = append(args, "--"+f.name+"="+f.value)
	}
	return args, skipped
}

// side is one of the two builds compared.
type side struct {
	name, bin, dir string
	supported      map[string]bool // nil: every flag
	// overlaid: built with this tree's benchmark files (benchFiles).
	overlaid bool
}

// runCompare builds the faasflow of ref, then runs it and this binary
// alternately (old, new, old, new ...) pairs times, each on a fresh state
// dir, and prints every figure side by side with the ratio new/old.
func runCompare(ctx context.Context, e env, ref string, pairs int, flags []flagValue, out string) error {
	repo, err := gitOutput(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	short, err := gitOutput(ctx, "rev-parse", "--short", ref+"^{commit}")
	if err != nil {
		return usagef("--compare %s: not a commit: %v", ref, err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "faasflow-bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	plan := oldBuild(repo, ref, tmp)
	defer func() { _ = plan.remove.run(context.WithoutCancel(ctx), nil) }()
	old, err := buildOld(ctx, e, plan, short)
	if err != nil {
		return err
	}
	sides := [2]side{old, {name: "this tree", bin: self, dir: repo}}
	res, skipped, err := runPairs(ctx, e, sides, pairs, flags, tmp)
	if err != nil {
		return err
	}
	md := compareReport(sides, pairs, flags, skipped, res)
	fmt.Fprintln(e.stdout, md)
	if out != "" {
		return os.WriteFile(out, []byte(md), 0o644)
	}
	return nil
}

// gitOutput runs git with args in the working directory.
func gitOutput(ctx context.Context, args ...string) (string, error) {
	b, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// benchUsage returns the flags s's bench command knows.
func benchUsage(ctx context.Context, s side) (map[string]bool, error) {
	cmd := exec.CommandContext(ctx, s.bin, "bench", "-h")
	cmd.Dir = s.dir
	b, _ := cmd.CombinedOutput() // -h exits non-zero on some versions
	flags := helpFlags(string(b))
	if !flags["runs"] || !flags["state-dir"] || !flags["markdown"] {
		return nil, fmt.Errorf("the faasflow of %s has no bench with --runs, --state-dir and --markdown", s.name)
	}
	return flags, nil
}

// runPairs runs the two sides alternately and returns their parsed
// reports and the flags the old side lacked.
func runPairs(ctx context.Context, e env, sides [2]side, pairs int, flags []flagValue, tmp string) ([]bench.Pair, []string, error) {
	var res []bench.Pair
	var skipped []string
	for i := 1; i <= pairs; i++ {
		var p bench.Pair
		for j, s := range sides {
			kind := [2]string{"old", "new"}[j]
			base := filepath.Join(tmp, fmt.Sprintf("%s-%d", kind, i))
			args, skip := sideArgs(flags, s.supported, base+".state", base+".md")
			if j == 0 {
				skipped = skip
			}
			rows, err := runSide(ctx, e, s, args, base, fmt.Sprintf("pair %d/%d, %s (%s)", i, pairs, kind, s.name))
			if err != nil {
				return nil, nil, err
			}
			if j == 0 {
				p.Old = rows
			} else {
				p.New = rows
			}
		}
		res = append(res, p)
	}
	return res, skipped, nil
}

// runSide runs one benchmark of s and parses its report.
func runSide(ctx context.Context, e env, s side, args []string, base, what string) ([]bench.Row, error) {
	log, err := os.Create(base + ".log")
	if err != nil {
		return nil, err
	}
	defer log.Close()
	fmt.Fprintf(e.stderr, "%s: faasflow %s\n", what, strings.Join(args, " "))
	start := time.Now()
	if err := (cmdSpec{dir: s.dir, args: append([]string{s.bin}, args...)}).run(ctx, log); err != nil {
		b, _ := os.ReadFile(base + ".log")
		return nil, fmt.Errorf("%s: %w\n%s", what, err, tail(string(b), 3000))
	}
	md, err := os.ReadFile(base + ".md")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(e.stderr, "%s: done in %s\n", what, time.Since(start).Round(time.Second))
	return bench.ParseMarkdown(string(md)), nil
}

// compareReport is the printed result of a comparison.
func compareReport(sides [2]side, pairs int, flags []flagValue, skipped []string, res []bench.Pair) string {
	var b strings.Builder
	var fl []string
	for _, f := range flags {
		fl = append(fl, "--"+f.name+"="+f.value)
	}
	fmt.Fprintf(&b, "old: faasflow of %s; new: %s. %d %s run alternately (old, new, ...), each on a fresh state dir and port, with %s.\n",
		sides[0].name, sides[1].name, pairs, plural(pairs, "pair"), strings.Join(fl, " "))
	if sides[0].overlaid {
		fmt.Fprintf(&b, "The old binary was built with this tree's benchmark (%s) laid over %s, so both measure the same shapes the same way.\n",
			strings.Join(benchFiles(), ", "), sides[0].name)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "The old binary lacks --%s: it ran with its defaults there, and the figures it does not measure show – .\n",
			strings.Join(skipped, ", --"))
	}
	b.WriteString("\n")
	b.WriteString(bench.RenderComparison(bench.Compare(res), sides[0].name, sides[1].name))
	return b.String()
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
