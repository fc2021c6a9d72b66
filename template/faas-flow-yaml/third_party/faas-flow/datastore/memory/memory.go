package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/faas-flow/faas-flow/sdk"
)

// Store is an in-memory sdk.DataStore. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	objects map[string][]byte
}

// New returns an empty store.
func New() *Store { return &Store{objects: make(map[string][]byte)} }

var _ sdk.DataStore = (*Store)(nil)

// Put implements sdk.DataStore. The store keeps its own copy of data.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cp := append([]byte(nil), data...)
	s.mu.Lock()
	s.objects[key] = cp
	s.mu.Unlock()
	return nil
}

// Get implements sdk.DataStore. It returns a copy.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	v, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memory data store: key %q: %w", key, sdk.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

// Delete implements sdk.DataStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// DeletePrefix implements sdk.DataStore.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			delete(s.objects, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// Keys returns the stored keys in order (tests assert cleanup with it).
func (s *Store) Keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
