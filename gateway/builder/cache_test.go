package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestTrimCacheEvictsLeastRecentlyUsedBeyondItsBudget(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	type file struct {
		name string
		size int
		age  time.Duration // since last use
	}
	tests := []struct {
		name     string
		files    []file
		maxBytes int64
		want     []string // left, sorted
	}{
		{"under the budget nothing goes",
			[]file{{"a", 100, 48 * time.Hour}, {"b", 100, time.Hour}}, 200, []string{"a", "b"}},
		{"the least recently used go first",
			[]file{{"old", 100, 48 * time.Hour}, {"mid", 100, 2 * time.Hour}, {"new", 100, time.Hour}}, 200, []string{"mid", "new"}},
		{"until the rest fits",
			[]file{{"old", 100, 48 * time.Hour}, {"mid", 100, 2 * time.Hour}, {"new", 100, time.Hour}}, 150, []string{"new"}},
		{"entries used in the last minutes stay even over the budget",
			[]file{{"old", 100, 48 * time.Hour}, {"just-built", 100, time.Minute}, {"just-used", 100, 5 * time.Minute}}, 50, []string{"just-built", "just-used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f.name)
				if err := os.WriteFile(p, make([]byte, f.size), 0o755); err != nil {
					t.Fatal(err)
				}
				used := now.Add(-f.age)
				if err := os.Chtimes(p, used, used); err != nil {
					t.Fatal(err)
				}
			}
			if err := trimCache(dir, tt.maxBytes, now, cacheKeepRecent); err != nil {
				t.Fatal(err)
			}
			var left []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				left = append(left, e.Name())
			}
			slices.Sort(left)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Fatalf("left %v, want %v", left, want)
			}
		})
	}
}
