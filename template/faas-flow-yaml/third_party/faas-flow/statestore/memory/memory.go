package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

type entry struct {
	value    []byte
	version  int64
	deadline time.Time // zero: no expiry
}

// Store is an in-memory sdk.StateStore. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu       sync.Mutex
	entries  map[string]entry
	rev      int64
	watchers map[string][]chan struct{}
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the time source used for TTL expiry (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{now: time.Now, entries: make(map[string]entry), watchers: make(map[string][]chan struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	_ sdk.StateStore = (*Store)(nil)
	_ sdk.Transactor = (*Store)(nil)
	_ sdk.Watcher    = (*Store)(nil)
)

// live returns the entry of key if it exists and has not expired. Callers
// hold s.mu.
func (s *Store) live(key string) (entry, bool) {
	e, ok := s.entries[key]
	if !ok {
		return entry{}, false
	}
	if !e.deadline.IsZero() && !s.now().Before(e.deadline) {
		s.remove(key)
		return entry{}, false
	}
	return e, true
}

func (s *Store) put(key string, value []byte, ttl time.Duration) int64 {
	s.rev++
	e := entry{value: append([]byte(nil), value...), version: s.rev}
	if ttl > 0 {
		e.deadline = s.now().Add(ttl)
	}
	s.entries[key] = e
	s.changed(key)
	return s.rev
}

// remove deletes key and tells its watchers. Callers hold s.mu.
func (s *Store) remove(key string) {
	delete(s.entries, key)
	s.changed(key)
}

// changed closes the channels of key's watchers. Callers hold s.mu.
func (s *Store) changed(key string) {
	for _, ch := range s.watchers[key] {
		close(ch)
	}
	delete(s.watchers, key)
}

// Watch implements sdk.Watcher: the channel is closed by the next write or
// delete of key (an expiry counts once a call notices it), or when ctx
// ends.
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan struct{})
	s.mu.Lock()
	s.watchers[key] = append(s.watchers[key], ch)
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, c := range s.watchers[key] {
			if c == ch {
				s.watchers[key] = append(s.watchers[key][:i], s.watchers[key][i+1:]...)
				close(ch)
				break
			}
		}
		if len(s.watchers[key]) == 0 {
			delete(s.watchers, key)
		}
	})
	return ch, nil
}

// Get implements sdk.StateStore.
func (s *Store) Get(ctx context.Context, key string) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key)
	if !ok {
		return nil, 0, fmt.Errorf("memory state store: key %q: %w", key, sdk.ErrNotFound)
	}
	return append([]byte(nil), e.value...), e.version, nil
}

// Create implements sdk.StateStore.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(key); ok {
		return 0, false, nil
	}
	return s.put(key, value, ttl), true, nil
}

// CompareAndSwap implements sdk.StateStore.
func (s *Store) CompareAndSwap(ctx context.Context, key string, version int64, value []byte, ttl time.Duration) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.live(key)
	if !ok || e.version != version {
		return 0, false, nil
	}
	return s.put(key, value, ttl), true, nil
}

// Txn implements sdk.Transactor under the store's lock.
func (s *Store) Txn(ctx context.Context, ops ...sdk.TxnOp) ([]sdk.TxnResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := sdk.CheckTxn(ops); err != nil {
		return nil, fmt.Errorf("memory state store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	guard := true
	for _, op := range ops {
		if op.Kind == sdk.TxnKindSwap {
			if e, ok := s.live(op.Key); !ok || e.version != op.Version {
				guard = false
			}
		}
	}
	out := make([]sdk.TxnResult, len(ops))
	for i, op := range ops {
		r := &out[i]
		switch op.Kind {
		case sdk.TxnKindGet:
			if e, ok := s.live(op.Key); ok {
				r.OK, r.Value, r.Version = true, append([]byte(nil), e.value...), e.version
			}
		case sdk.TxnKindCount:
			r.Count = s.count(op.Key)
		case sdk.TxnKindCreate:
			if !guard {
				continue
			}
			if e, ok := s.live(op.Key); ok {
				r.Value, r.Version = append([]byte(nil), e.value...), e.version
				continue
			}
			r.OK, r.Version = true, s.put(op.Key, op.Value, op.TTL)
		case sdk.TxnKindSwap:
			if guard {
				r.OK, r.Version = true, s.put(op.Key, op.Value, op.TTL)
			}
		}
	}
	return out, nil
}

// Delete implements sdk.StateStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(key)
	return nil
}

// List implements sdk.StateStore.
func (s *Store) List(ctx context.Context, prefix string) ([]sdk.KV, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sdk.KV
	for k := range s.entries {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if e, ok := s.live(k); ok {
			out = append(out, sdk.KV{Key: k, Value: append([]byte(nil), e.value...), Version: e.version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// ListRange implements sdk.RangeLister. It walks every key of the store
// (this store is for tests and single-process use, not for large state).
func (s *Store) ListRange(ctx context.Context, prefix, from, to string, limit int) ([]sdk.KV, error) {
	if limit < 1 {
		return nil, ctx.Err()
	}
	all, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].Key >= from })
	all = all[i:]
	if to != "" {
		all = all[:sort.Search(len(all), func(i int) bool { return all[i].Key >= to })]
	}
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// count returns the number of live keys under prefix. Callers hold s.mu.
func (s *Store) count(prefix string) int {
	n := 0
	for k := range s.entries {
		if _, ok := s.live(k); ok && strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// DeletePrefix implements sdk.StateStore.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.entries {
		if strings.HasPrefix(k, prefix) {
			s.remove(k)
		}
	}
	return nil
}

// Len reports the number of live keys (tests assert cleanup with it).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.entries {
		if _, ok := s.live(k); ok {
			n++
		}
	}
	return n
}

// Keys returns the live keys in order (for test failure messages).
func (s *Store) Keys() []string {
	kvs, _ := s.List(context.Background(), "")
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	return keys
}
