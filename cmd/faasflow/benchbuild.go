package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// cmdSpec is a command and the directory it runs in.
type cmdSpec struct {
	dir  string
	args []string
}

// buildPlan is how the faasflow of an earlier commit is built: a detached
// git worktree of it, the build of its faasflow, and the removal of the
// worktree.
type buildPlan struct {
	add, build, remove cmdSpec
	repo, tree, bin    string
}

// oldBuild plans the build of ref from the repository at repo: a worktree
// in dir/old, built into dir/faasflow-old.
func oldBuild(repo, ref, dir string) buildPlan {
	tree := filepath.Join(dir, "old")
	bin := filepath.Join(dir, "faasflow-old")
	return buildPlan{
		add:    cmdSpec{dir: repo, args: []string{"git", "worktree", "add", "--detach", tree, ref}},
		build:  cmdSpec{dir: tree, args: []string{"go", "build", "-o", bin, "./cmd/faasflow"}},
		remove: cmdSpec{dir: repo, args: []string{"git", "worktree", "remove", "--force", tree}},
		repo:   repo, tree: tree, bin: bin,
	}
}

// benchFiles are the files and folders of the benchmark itself: its
// command, its measurements and its flows. Laid over an earlier commit
// they make that commit's faasflow measure the same things the same way.
func benchFiles() []string {
	return []string{"bench.yml", "examples/bench", "cmd/faasflow/bench.go", "cmd/faasflow/benchbuild.go",
		"cmd/faasflow/benchcompare.go", "cmd/faasflow/internal/bench"}
}

// buildOld builds the old side: the worktree with this tree's benchmark
// laid over it, or, when that does not build (the benchmark needs what
// the old commit lacks), the old commit as it is, whose bench then runs
// only the flags and figures it knows.
func buildOld(ctx context.Context, e env, p buildPlan, name string) (side, error) {
	fmt.Fprintf(e.stderr, "building the faasflow of %s in %s\n", name, p.tree)
	if err := p.add.run(ctx, nil); err != nil {
		return side{}, err
	}
	s := side{name: name, bin: p.bin, dir: p.tree, overlaid: true}
	err := copyPaths(p.repo, p.tree, benchFiles())
	if err == nil {
		err = p.build.run(ctx, nil)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "this tree's benchmark does not build on %s, so it is measured by its own: %s\n", name, firstLine(err.Error()))
		s.overlaid = false
		for _, c := range []cmdSpec{p.remove, p.add, p.build} {
			if err := c.run(ctx, nil); err != nil {
				return side{}, err
			}
		}
	}
	var errUsage error
	if s.supported, errUsage = benchUsage(ctx, s); errUsage != nil {
		return side{}, errUsage
	}
	return s, nil
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// copyPaths copies the files and folders paths (relative, slash-separated)
// from the tree from to the tree to, replacing what is there.
func copyPaths(from, to string, paths []string) error {
	for _, p := range paths {
		root := filepath.Join(from, filepath.FromSlash(p))
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(from, path)
			if err != nil {
				return err
			}
			dst := filepath.Join(to, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return os.WriteFile(dst, b, 0o644)
		})
		if err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
	}
	return nil
}

// run runs c, with its output in log (nil: kept only to report a failure).
func (c cmdSpec) run(ctx context.Context, log *os.File) error {
	cmd := exec.CommandContext(ctx, c.args[0], c.args[1:]...)
	cmd.Dir = c.dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (in %s): %w\n%s", strings.Join(c.args, " "), c.dir, err, tail(buf.String(), 2000))
	}
	return nil
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
