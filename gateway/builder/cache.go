package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// DefaultCacheMaxBytes is CompileSpec.CacheMaxBytes's default: room for
// about a hundred function binaries.
const DefaultCacheMaxBytes = 2 << 30

// cacheKeepRecent protects entries used this recently from eviction, so a
// deploy of many functions never evicts what it has just built.
const cacheKeepRecent = 10 * time.Minute

// touchCacheEntry marks a cache entry as just used (eviction goes by the
// modification time).
func touchCacheEntry(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// trimCache removes the least recently used entries of the cache at dir
// until it holds at most maxBytes, sparing those used within keepRecent of
// now. Binaries already handed out are hard links or copies, so removing
// their cache entry never breaks them.
func trimCache(dir string, maxBytes int64, now time.Time, keepRecent time.Duration) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("trim build cache: %w", err)
	}
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var (
		all   []entry
		total int64
	)
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		all = append(all, entry{filepath.Join(dir, de.Name()), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, e := range all {
		if total <= maxBytes || now.Sub(e.used) < keepRecent {
			break
		}
		if err := os.Remove(e.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("trim build cache: %w", err)
		}
		total -= e.size
	}
	return nil
}
