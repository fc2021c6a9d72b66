package etcd

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// grantCounter is a clientv3.Lease whose Grant hands out numbered leases;
// the cache calls nothing else.
type grantCounter struct {
	clientv3.Lease
	grants int
}

func (g *grantCounter) Grant(_ context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	g.grants++
	return &clientv3.LeaseGrantResponse{ID: clientv3.LeaseID(g.grants), TTL: ttl}, nil
}

func TestLeaseServesAtMostMaxKeysPerLease(t *testing.T) {
	ctx := context.Background()
	g := &grantCounter{}
	c := newLeaseCache(g, time.Hour)
	seen := map[clientv3.LeaseID]int{}
	for i := 0; i < 3*maxKeysPerLease; i++ {
		id, err := c.get(ctx, time.Minute, 1)
		if err != nil {
			t.Fatal(err)
		}
		seen[id]++
	}
	if g.grants != 3 {
		t.Errorf("%d grants for %d single-key writes, want 3", g.grants, 3*maxKeysPerLease)
	}
	for id, n := range seen {
		if n > maxKeysPerLease {
			t.Errorf("lease %d served %d keys, more than %d", id, n, maxKeysPerLease)
		}
	}
}

func TestLeaseCountsEveryKeyOfATransaction(t *testing.T) {
	ctx := context.Background()
	g := &grantCounter{}
	c := newLeaseCache(g, time.Hour)
	first, err := c.get(ctx, time.Minute, maxKeysPerLease-1)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := c.get(ctx, time.Minute, 1); id != first {
		t.Errorf("the lease's last free key went to lease %d, want %d", id, first)
	}
	if id, _ := c.get(ctx, time.Minute, 2); id == first {
		t.Error("a full lease served two more keys")
	}
	// A transaction writing more keys than a lease serves gets a lease of
	// its own.
	big, _ := c.get(ctx, time.Minute, 2*maxKeysPerLease)
	if next, _ := c.get(ctx, time.Minute, 1); next == big {
		t.Error("a lease that served an oversized transaction served more")
	}
}
