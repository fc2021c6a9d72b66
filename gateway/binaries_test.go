package gateway

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestBinariesNoFunctionOrImageUsesAreRemoved: a rebuild and redeploy
// leaves only the new binary of a function under STATE_DIR/bin, and files
// there that nothing refers to (left by an earlier run) are removed on
// start; the functions keep serving.
func TestBinariesNoFunctionOrImageUsesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(binDir, "left-by-an-earlier-run-1")
	if err := os.WriteFile(stray, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := StartLocal(context.Background(), fastOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("a binary nothing refers to survived the start: %v", err)
	}
	bins := func() []string {
		t.Helper()
		entries, err := os.ReadDir(binDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	deploy(t, l, fnDef{name: "bin-a"}, fnDef{name: "bin-b"})
	first := bins()
	if len(first) != 2 {
		t.Fatalf("binaries after deploying two functions: %v", first)
	}
	deploy(t, l, fnDef{name: "bin-a"}) // rebuilt (from the cache, as a new file) and redeployed
	second := bins()
	if len(second) != 2 {
		t.Fatalf("binaries after redeploying one: %v, want bin-a's new one and bin-b's", second)
	}
	var kept, added int
	for _, n := range second {
		if slices.Contains(first, n) {
			kept++
		} else {
			added++
		}
	}
	if kept != 1 || added != 1 {
		t.Fatalf("before %v, after %v: want bin-b's binary kept and bin-a's replaced", first, second)
	}
	for _, fn := range []string{"bin-a", "bin-b"} {
		if r := do(t, "GET", l.URL()+"/function/"+fn, "", nil); r.code != 200 {
			t.Fatalf("%s after the prune: %d %s", fn, r.code, r.body)
		}
	}
}
