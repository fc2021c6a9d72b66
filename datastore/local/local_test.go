package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/datastore/local"
	"github.com/faas-flow/faas-flow/datastore/storetest"
	"github.com/faas-flow/faas-flow/sdk"
)

func newStore(t testing.TB, dir string) *local.Store {
	t.Helper()
	s, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	return s
}

// tree lists every file and directory below root (relative, slash form).
func tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sdk.DataStore {
		return newStore(t, filepath.Join(t.TempDir(), "store"))
	}, storetest.Options{
		Leftovers: func(t *testing.T, st sdk.DataStore) []string { return tree(t, st.(*local.Store).Root()) },
	})
}

func TestLayoutIsReadableAndEscaped(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	s := newStore(t, root)
	ctx := context.Background()
	for _, k := range []string{"flowA/req1/data/n1", "flowA/req1/data/n1/part", "flowA/req1/../x", "flowA/req1/a b"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	got := tree(t, root)
	want := []string{
		"flowA", "flowA/req1", "flowA/req1/%2E.", "flowA/req1/%2E./x~", "flowA/req1/a%20b~",
		"flowA/req1/data", "flowA/req1/data/n1", "flowA/req1/data/n1/part~", "flowA/req1/data/n1~",
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHostileKeysCannotLeaveTheRoot writes every hostile key and checks the
// file system: nothing appears outside the root, nothing at the root but the
// flow directory.
func TestHostileKeysCannotLeaveTheRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "store")
	if err := os.WriteFile(filepath.Join(parent, "victim"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root)
	ctx := context.Background()
	for _, h := range append(append([]string{}, storetest.HostileKeys...), storetest.RejectableKeys...) {
		err := s.Put(ctx, "flowA/req1/"+h, []byte("x"))
		if err != nil && !slicesContains(storetest.RejectableKeys, h) {
			t.Fatalf("Put(%q): %v", h, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "store,victim" {
		t.Fatalf("entries next to the root after hostile writes: %q", names)
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "victim")); string(b) != "keep" {
		t.Fatalf("file outside the root changed: %q", b)
	}
	for _, p := range tree(t, root) {
		if !strings.HasPrefix(p, "flowA/req1/") && p != "flowA" && p != "flowA/req1" {
			t.Fatalf("hostile key produced %q outside flowA/req1/", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." || seg == "" {
				t.Fatalf("path %q has segment %q", p, seg)
			}
		}
	}
	if err := s.DeletePrefix(ctx, "flowA/req1/"); err != nil {
		t.Fatal(err)
	}
	if left := tree(t, root); len(left) != 0 {
		t.Fatalf("after DeletePrefix the root holds %q", left)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestInvalidKeysAreRejected(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a//b", "dir/"} {
		if err := s.Put(ctx, k, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded; keys with empty segments must be rejected", k)
		}
		if _, err := s.Get(ctx, k); err == nil || errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("Get(%q) = %v; want an invalid-key error", k, err)
		}
	}
}

func TestNewRejectsBadRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", file} {
		if _, err := local.New(local.Options{Dir: dir}); err == nil {
			t.Errorf("New(%q) succeeded", dir)
		}
	}
}

func TestStaleTempFilesAreNotValuesAndDoNotBlockCleanup(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := context.Background()
	if err := s.Put(ctx, "f/r/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// A writer that crashed after creating its temp file long ago.
	tmp := filepath.Join(root, "f", "r", ".tmp-crashed")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "f/"); err != nil {
		t.Fatal(err)
	}
	if left := tree(t, root); len(left) != 0 {
		t.Fatalf("root holds %q after cleanup", left)
	}
}

// The multi-process test runs this test binary as child processes that
// write to one shared root while the parent reads.
const childEnv = "FAASFLOW_LOCAL_STORE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild is one writer process: "root|id|rounds".
func runChild(spec string) int {
	parts := strings.Split(spec, "|")
	id, _ := strconv.Atoi(parts[1])
	rounds, _ := strconv.Atoi(parts[2])
	s, err := local.New(local.Options{Dir: parts[0]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	for r := 0; r < rounds; r++ {
		if err := s.Put(ctx, "flow/req/shared", childValue(id)); err != nil {
			fmt.Fprintln(os.Stderr, "put shared:", err)
			return 1
		}
		own := fmt.Sprintf("flow/req/own/%d/%d", id, r)
		if err := s.Put(ctx, own, childValue(id)); err != nil {
			fmt.Fprintln(os.Stderr, "put own:", err)
			return 1
		}
		if r%3 == 2 {
			// Deletes prune directories other processes are writing into.
			if err := s.DeletePrefix(ctx, fmt.Sprintf("flow/req/own/%d/", id)); err != nil {
				fmt.Fprintln(os.Stderr, "delete prefix:", err)
				return 1
			}
		}
	}
	return 0
}

func childValue(id int) []byte {
	return bytes.Repeat([]byte{byte('A' + id)}, 128<<10)
}

func TestConcurrentProcessesShareOneRoot(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root)
	ctx := context.Background()
	const procs, rounds = 4, 30
	var children []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < procs; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d|%d", childEnv, root, i, rounds))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		children = append(children, cmd)
		outs = append(outs, out)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			v, err := s.Get(ctx, "flow/req/shared")
			if errors.Is(err, sdk.ErrNotFound) {
				continue
			}
			ok := err == nil && len(v) == 128<<10 && bytes.Count(v, v[:1]) == len(v)
			if !ok {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("len %d err %v", len(v), err))
				mu.Unlock()
			}
		}
	}()
	for i, c := range children {
		if err := c.Wait(); err != nil {
			t.Errorf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("parent read %d torn or failed values while children wrote, first: %s", len(bad), bad[0])
	}
	v, err := s.Get(ctx, "flow/req/shared")
	if err != nil || bytes.Count(v, v[:1]) != len(v) {
		t.Fatalf("final shared value broken: %d bytes, %v", len(v), err)
	}
	if err := s.DeletePrefix(ctx, "flow/"); err != nil {
		t.Fatal(err)
	}
	if left := tree(t, root); len(left) != 0 {
		t.Fatalf("root holds %q after cleanup", left)
	}
}

// age sets the modification time of every file under dir/sub to d ago.
func age(t *testing.T, dir, sub string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExpireAfterRemovesOnlyOldDataUnderThePrefix(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newStore(t, dir)
	keys := []string{"w/f/old/h/a", "w/f/old/b/x/k", "w/f/young/h/a", "w/g/old/h/a", "r/f/old/result"}
	for _, k := range keys {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"w/f/old", "w/g/old", "r/f/old"} {
		age(t, dir, sub, 48*time.Hour)
	}
	temp := filepath.Join(dir, "w", "f", ".tmp-crashed")
	if err := os.WriteFile(temp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	age(t, dir, "w/f/.tmp-crashed", 48*time.Hour)

	if err := s.ExpireAfter(ctx, "w/f/", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for k, kept := range map[string]bool{
		"w/f/old/h/a": false, "w/f/old/b/x/k": false, // old, under the prefix
		"w/f/young/h/a":  true, // young
		"w/g/old/h/a":    true, // another flow's prefix
		"r/f/old/result": true, // another prefix
	} {
		_, err := s.Get(ctx, k)
		if kept && err != nil {
			t.Errorf("%s was removed (%v); want it kept", k, err)
		}
		if !kept && !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("%s: Get = %v; want it expired", k, err)
		}
	}
	if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "w", "f", "old")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the expired request's directory is left behind: %v", err)
	}
	if err := s.ExpireAfter(ctx, "w/none/", time.Hour); err != nil {
		t.Errorf("expiring a prefix with no data: %v", err)
	}
	for _, bad := range []struct {
		prefix string
		age    time.Duration
	}{{"w/f", time.Hour}, {"w/f/", 0}} {
		if err := s.ExpireAfter(ctx, bad.prefix, bad.age); err == nil {
			t.Errorf("ExpireAfter(%q, %s) accepted", bad.prefix, bad.age)
		}
	}
}
