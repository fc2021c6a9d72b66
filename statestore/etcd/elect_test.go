package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// leads reports whether lead becomes a leadership within d.
func leads(t *testing.T, got <-chan context.Context, d time.Duration) context.Context {
	t.Helper()
	select {
	case lead := <-got:
		return lead
	case <-time.After(d):
		return nil
	}
}

// campaign runs Lead in the background and hands over the leadership.
func campaign(t *testing.T, s *etcd.Store, ctx context.Context) (<-chan context.Context, *func()) {
	got := make(chan context.Context, 1)
	release := new(func())
	go func() {
		lead, rel, err := s.Lead(ctx, "reconciler/flow")
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("Lead: %v", err)
			}
			return
		}
		*release = rel
		got <- lead
	}()
	return got, release
}

func TestOneProcessLeadsAtATimeAndAnotherTakesOver(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	a := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	b := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	gotA, releaseA := campaign(t, a, ctx)
	leadA := leads(t, gotA, 10*time.Second)
	if leadA == nil {
		t.Fatal("the only candidate was not elected")
	}
	gotB, releaseB := campaign(t, b, ctx)
	if leads(t, gotB, time.Second) != nil {
		t.Fatal("a second process led while the first still did")
	}
	(*releaseA)()
	if leadA.Err() == nil {
		t.Fatal("the leadership's context did not end on release")
	}
	leadB := leads(t, gotB, 10*time.Second)
	if leadB == nil {
		t.Fatal("the second process did not take over after the first resigned")
	}
	(*releaseB)()
}

func TestALeaderThatLosesEtcdIsReplaced(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	a := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	b := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gotA, _ := campaign(t, a, ctx)
	leadA := leads(t, gotA, 10*time.Second)
	if leadA == nil {
		t.Fatal("not elected")
	}
	gotB, releaseB := campaign(t, b, ctx)
	// A's process dies: its connection closes, its session's lease is
	// no longer kept alive and runs out.
	start := time.Now()
	_ = a.Close()
	leadB := leads(t, gotB, 30*time.Second)
	if leadB == nil {
		t.Fatal("nobody took over from a leader that died")
	}
	t.Logf("taken over %s after the leader died", time.Since(start).Round(100*time.Millisecond))
	(*releaseB)()
}
