package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// runWatch runs the Watch part of the suite when the store offers the
// optional sdk.Watcher.
func (s suite) runWatch(t *testing.T) {
	if _, ok := s.newStore(t).(sdk.Watcher); !ok {
		return
	}
	t.Run("Watch", func(t *testing.T) {
		t.Run("a write after Watch returned closes the channel", s.watchSeesWrite)
		t.Run("a delete closes the channel", s.watchSeesDelete)
		t.Run("changes before Watch and to other keys are not reported", s.watchIgnoresEarlierAndOthers)
		t.Run("ending the context releases the watch", s.watchEndsWithContext)
	})
}

// watchTimeout bounds how long a change may take to be reported.
const watchTimeout = 5 * time.Second

func (s suite) watch(t *testing.T, ctx context.Context, st sdk.StateStore, key string) <-chan struct{} {
	t.Helper()
	ch, err := st.(sdk.Watcher).Watch(ctx, key)
	if err != nil {
		t.Fatalf("Watch(%q): %v", key, err)
	}
	return ch
}

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func (s suite) watchSeesWrite(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "w/a", "1", 0)
	_, ver, err := st.Get(ctx, "w/a")
	if err != nil {
		t.Fatal(err)
	}
	ch := s.watch(t, ctx, st, "w/a")
	if _, ok, err := st.CompareAndSwap(ctx, "w/a", ver, []byte("2"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap: %v, %v", ok, err)
	}
	if !closedWithin(ch, watchTimeout) {
		t.Fatalf("the channel was not closed %v after a write", watchTimeout)
	}
}

func (s suite) watchSeesDelete(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "w/d", "1", 0)
	ch := s.watch(t, ctx, st, "w/d")
	if err := st.Delete(ctx, "w/d"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(ch, watchTimeout) {
		t.Fatalf("the channel was not closed %v after a delete", watchTimeout)
	}
}

func (s suite) watchIgnoresEarlierAndOthers(t *testing.T) {
	st, ctx := s.newStore(t), s.ctx(t)
	mustCreate(t, ctx, st, "w/e", "1", 0)
	ch := s.watch(t, ctx, st, "w/e")
	mustCreate(t, ctx, st, "w/e2", "other", 0)
	mustCreate(t, ctx, st, "w/", "prefix", 0)
	if closedWithin(ch, 300*time.Millisecond) {
		t.Fatal("the channel was closed by a write of another key, or by the write before Watch")
	}
}

func (s suite) watchEndsWithContext(t *testing.T) {
	st := s.newStore(t)
	ctx, cancel := context.WithCancel(s.ctx(t))
	ch := s.watch(t, ctx, st, "w/c")
	cancel()
	if !closedWithin(ch, watchTimeout) {
		t.Fatalf("the channel was not closed %v after its context ended", watchTimeout)
	}
}
