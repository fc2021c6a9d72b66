package runtime_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/faas-flow/faas-flow/runtime"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/configuration.md from runtime.Settings")

// TestConfigurationDocIsCurrent fails when docs/configuration.md differs
// from what runtime.Settings generates. Regenerate with
// `go generate ./runtime` (or go test ./runtime -run TestConfigurationDocIsCurrent -update-docs).
func TestConfigurationDocIsCurrent(t *testing.T) {
	var want bytes.Buffer
	if err := runtime.WriteConfigDoc(&want); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "configuration.md")
	if *updateDocs {
		if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `go generate ./runtime`", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("docs/configuration.md is stale: run `go generate ./runtime`")
	}
}
