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

// fromCache returns the cache key of the build's inputs (the context, and
// the SDK when the context uses it) and, when the cache has that entry,
// links or copies it to Output and reports a hit.
func (s CompileSpec) fromCache(usesSDK bool) (key string, hit bool, err error) {
	sdk := ""
	if usesSDK {
		sdk = s.SDKDir
	}
	if key, err = inputHash(s.ContextDir, sdk); err != nil {
		return "", false, fmt.Errorf("build %s: hash inputs: %w", s.Name, err)
	}
	cached := filepath.Join(s.CacheDir, key)
	if _, err := os.Stat(cached); err != nil {
		return key, false, nil
	}
	logf(s.Log, "[%s] unchanged since last build (cache %s)\n", s.Name, key[:12])
	touchCacheEntry(cached)
	if err := linkOrCopy(cached, s.Output); err != nil {
		return "", false, fmt.Errorf("build %s: %w", s.Name, err)
	}
	return key, true, nil
}

// addToCache keeps Output in the cache under key, then trims the cache to
// CacheMaxBytes (DefaultCacheMaxBytes when 0). Failures only cost a later
// rebuild: they are logged at most.
func (s CompileSpec) addToCache(key string) {
	if err := os.MkdirAll(s.CacheDir, 0o755); err != nil {
		return
	}
	_ = linkOrCopy(s.Output, filepath.Join(s.CacheDir, key))
	touchCacheEntry(filepath.Join(s.CacheDir, key))
	limit := s.CacheMaxBytes
	if limit <= 0 {
		limit = DefaultCacheMaxBytes
	}
	if err := trimCache(s.CacheDir, limit, time.Now(), cacheKeepRecent); err != nil {
		logf(s.Log, "[%s] %v\n", s.Name, err)
	}
}
