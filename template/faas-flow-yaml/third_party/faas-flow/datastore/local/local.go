package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/faas-flow/faas-flow/datastore/internal/keypath"
	"github.com/faas-flow/faas-flow/sdk"
)

const (
	// fileSuffix marks a key's data file; keypath never leaves it raw.
	fileSuffix = keypath.LeafSuffix
	// tempPrefix starts temporary files; keypath never starts a segment
	// with '.'.
	tempPrefix = ".tmp-"
	// staleTemp is the age after which DeletePrefix removes temporary files
	// left by writers that crashed.
	staleTemp = 15 * time.Minute
	// maxAttempts bounds retries of a write racing a concurrent delete that
	// removed its directory.
	maxAttempts = 20
)

// Options configure a Store.
type Options struct {
	// Dir is the root directory; it is created (mode 0700) if missing.
	// Required.
	Dir string
	// NoSync skips fsync of files and directories: faster, but a machine
	// crash may lose recent writes. Default false (durable).
	NoSync bool
}

// Store is an sdk.DataStore in a directory. It is safe for concurrent use,
// also by several processes sharing the directory.
type Store struct {
	root   string
	noSync bool
}

var (
	_ sdk.DataStore = (*Store)(nil)
	_ sdk.Expirer   = (*Store)(nil)
)

// New opens (creating if needed) a store rooted at opts.Dir.
func New(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("local data store: no directory configured")
	}
	root, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("local data store: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("local data store: create root: %w", err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("local data store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("local data store: %s is not a directory", root)
	}
	return &Store{root: root, noSync: opts.NoSync}, nil
}

// Root returns the absolute root directory.
func (s *Store) Root() string { return s.root }

// paths returns the directory and file of key.
func (s *Store) paths(key string) (dir, file string, err error) {
	rel, err := keypath.Leaf(key)
	if err != nil {
		return "", "", fmt.Errorf("local data store: %w", err)
	}
	d, base := path.Split(rel)
	dir = filepath.Join(s.root, filepath.FromSlash(d))
	return dir, filepath.Join(dir, base), nil
}

// Put implements sdk.DataStore: write a temp file, fsync, rename.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local data store: put %q: %w", key, err)
	}
	dir, file, err := s.paths(key)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("local data store: put %q: %w", key, err)
		}
		last = s.write(dir, file, data)
		if last == nil {
			return nil
		}
		if !errors.Is(last, fs.ErrNotExist) {
			break
		}
		// A concurrent delete removed the directory between our mkdir and
		// rename; the write has not happened, so do it again.
	}
	return fmt.Errorf("local data store: put %q: %w", key, last)
}

func (s *Store) write(dir, file string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if !s.noSync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	ok = true
	if !s.noSync {
		syncDir(dir)
	}
	return nil
}

// syncDir makes a rename in dir durable; failure only weakens durability.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// Get implements sdk.DataStore.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local data store: get %q: %w", key, err)
	}
	_, file, err := s.paths(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("local data store: key %q: %w", key, sdk.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("local data store: get %q: %w", key, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// Delete implements sdk.DataStore and removes directories it leaves empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local data store: delete %q: %w", key, err)
	}
	dir, file, err := s.paths(key)
	if err != nil {
		return err
	}
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("local data store: delete %q: %w", key, err)
	}
	s.prune(dir)
	return nil
}

// DeletePrefix implements sdk.DataStore. The prefix is encoded like keys; its
// last, possibly partial segment is matched against the names in its
// directory, so "f/r/a" removes "f/r/a", "f/r/ab" and everything below them.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local data store: delete prefix %q: %w", prefix, err)
	}
	enc := keypath.EncodePrefix(prefix)
	i := strings.LastIndexByte(enc, '/')
	dirRel, partial := enc[:i+1], enc[i+1:]
	dir := filepath.Join(s.root, filepath.FromSlash(dirRel))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local data store: delete prefix %q: %w", prefix, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("local data store: delete prefix %q: %w", prefix, err)
		}
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, tempPrefix):
			// An in-flight write; remove it only if its writer is long gone.
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				_ = os.Remove(p)
			}
		case strings.HasSuffix(name, fileSuffix):
			if strings.HasPrefix(strings.TrimSuffix(name, fileSuffix), partial) {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("local data store: delete prefix %q: %w", prefix, err)
				}
			}
		case e.IsDir() && strings.HasPrefix(name, partial):
			if err := removeAll(p); err != nil {
				return fmt.Errorf("local data store: delete prefix %q: %w", prefix, err)
			}
		}
	}
	s.prune(dir)
	return nil
}

// removeAll is os.RemoveAll, retried when a concurrent writer adds a file
// while the tree is being removed.
func removeAll(p string) error {
	var err error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err = os.RemoveAll(p); err == nil || !errors.Is(err, syscall.ENOTEMPTY) {
			return err
		}
	}
	return err
}

// prune removes dir and its parents up to the root while they are empty.
// os.Remove refuses non-empty directories, so this is safe against
// concurrent writers (who retry if their directory vanishes).
// ExpireAfter implements sdk.Expirer with one sweep: it removes the data
// files under prefix (which must end in "/") last written more than age ago,
// temporary files as old left by writers that crashed, and the directories
// this leaves empty. The flow runtime calls it every hour.
func (s *Store) ExpireAfter(ctx context.Context, prefix string, age time.Duration) error {
	enc := keypath.EncodePrefix(prefix)
	if !strings.HasSuffix(enc, "/") || age <= 0 {
		return fmt.Errorf("local data store: expire %q after %s: want a prefix ending in / and a positive age", prefix, age)
	}
	top := filepath.Join(s.root, filepath.FromSlash(enc))
	cutoff := time.Now().Add(-age)
	var dirs []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing under prefix, or removed while we walk
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if name := d.Name(); !strings.HasSuffix(name, fileSuffix) && !strings.HasPrefix(name, tempPrefix) {
			return nil // not a file of this store
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.ModTime().Before(cutoff) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	// Deepest first; a directory that is not empty (or was just written to)
	// stays. A writer racing this removal retries (see Put).
	for i := len(dirs) - 1; i > 0; i-- {
		_ = os.Remove(dirs[i])
	}
	if len(dirs) > 0 {
		s.prune(dirs[0])
	}
	if err != nil {
		return fmt.Errorf("local data store: expire %q: %w", prefix, err)
	}
	return nil
}

func (s *Store) prune(dir string) {
	for dir != s.root && strings.HasPrefix(dir, s.root+string(filepath.Separator)) {
		if err := os.Remove(dir); err != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}
