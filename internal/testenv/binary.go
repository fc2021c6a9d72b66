package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// cachedBinary returns the path of a server binary built by scripts/deps.sh:
// $envVar if set, else ${FAASFLOW_CACHE:-$HOME/.cache/faasflow}/bin/name.
func cachedBinary(envVar, name string) string {
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	cache := os.Getenv("FAASFLOW_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache", "faasflow")
	}
	return filepath.Join(cache, "bin", name)
}

// requireExecutable fails the test, with the fix, when bin is not an
// executable file.
func requireExecutable(tb testing.TB, bin, what, envVar string) {
	tb.Helper()
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		tb.Fatalf("testenv: %s not found or not executable at %s: run scripts/deps.sh (or set %s)", what, bin, envVar)
	}
}
