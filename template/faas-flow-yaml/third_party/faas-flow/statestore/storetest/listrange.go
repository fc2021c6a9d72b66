package storetest

import (
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// runListRange runs the ListRange part of the suite when the store offers
// the optional sdk.RangeLister.
func (s suite) runListRange(t *testing.T) {
	if _, ok := s.newStore(t).(sdk.RangeLister); !ok {
		return
	}
	t.Run("ListRange", func(t *testing.T) {
		t.Run("reads a range of a prefix in key order", s.listRangePages)
		t.Run("skips expired keys", s.listRangeSkipsExpired)
	})
}

// rangeLister returns st as an sdk.RangeLister (Run calls the ListRange
// tests only for stores that implement it).
func rangeLister(t *testing.T, st sdk.StateStore) sdk.RangeLister {
	t.Helper()
	rl, ok := st.(sdk.RangeLister)
	if !ok {
		t.Fatal("the store does not implement sdk.RangeLister")
	}
	return rl
}

func (s suite) listRangeKeys(t *testing.T, rl sdk.RangeLister, prefix, from, to string, limit int) []string {
	t.Helper()
	kvs, err := rl.ListRange(s.ctx(t), prefix, from, to, limit)
	if err != nil {
		t.Fatalf("ListRange(%q, %q, %q, %d): %v", prefix, from, to, limit, err)
	}
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	return keys
}

func (s suite) listRangePages(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	rl := rangeLister(t, st)
	for _, k := range []string{"l/f/3", "l/f/1", "l/f/5", "l/f/2", "l/f/4", "l/g/0", "l/e/9", "l/f"} {
		mustCreate(t, ctx, st, k, "v-"+k, 0)
	}
	tests := []struct {
		name     string
		from, to string
		limit    int
		want     []string
	}{
		{"whole prefix in key order", "", "", 10, []string{"l/f/1", "l/f/2", "l/f/3", "l/f/4", "l/f/5"}},
		{"first page", "", "", 2, []string{"l/f/1", "l/f/2"}},
		{"from a key, which is included", "l/f/3", "", 2, []string{"l/f/3", "l/f/4"}},
		{"from just after a key", "l/f/2\x00", "", 2, []string{"l/f/3", "l/f/4"}},
		{"up to a key, which is left out", "", "l/f/3", 10, []string{"l/f/1", "l/f/2"}},
		{"between two keys that do not exist", "l/f/15", "l/f/45", 10, []string{"l/f/2", "l/f/3", "l/f/4"}},
		{"short last page", "l/f/5", "", 2, []string{"l/f/5"}},
		{"from a key before the prefix", "a", "", 1, []string{"l/f/1"}},
		{"up to a key past the prefix", "l/f/4", "z", 5, []string{"l/f/4", "l/f/5"}},
		{"from a key past the prefix", "z", "", 3, nil},
		{"empty range", "l/f/3", "l/f/3", 3, nil},
		{"limit below one", "", "", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.listRangeKeys(t, rl, "l/f/", tc.from, tc.to, tc.limit)
			if !equalKeys(got, tc.want) {
				t.Fatalf("ListRange(%q, %q, %d) = %q, want %q", tc.from, tc.to, tc.limit, got, tc.want)
			}
		})
	}
	kvs, err := rl.ListRange(ctx, "l/f/", "", "", 1)
	if err != nil || len(kvs) != 1 {
		t.Fatalf("ListRange = %v, %v", kvs, err)
	}
	v, ver := mustGet(t, ctx, st, "l/f/1")
	if string(kvs[0].Value) != string(v) || kvs[0].Version != ver {
		t.Fatalf("ListRange entry = %q version %d; Get says %q version %d", kvs[0].Value, kvs[0].Version, v, ver)
	}
}

func (s suite) listRangeSkipsExpired(t *testing.T) {
	t.Parallel()
	st, ctx := s.newStore(t), s.ctx(t)
	rl := rangeLister(t, st)
	mustCreate(t, ctx, st, "l/x/1", "v", shortTTL)
	mustCreate(t, ctx, st, "l/x/2", "v", 0)
	s.waitGone(t, ctx, st, "l/x/1", "l/x/", time.Now().Add(shortTTL+s.opts.MaxTTLOverrun))
	if got := s.listRangeKeys(t, rl, "l/x/", "", "", 1); !equalKeys(got, []string{"l/x/2"}) {
		t.Fatalf("ListRange after expiry = %q, want only the live key", got)
	}
}
