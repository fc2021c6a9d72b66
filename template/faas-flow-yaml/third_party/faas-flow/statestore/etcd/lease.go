package etcd

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxLeaseSlots bounds the lease cache; slots whose lease can no longer
// serve are dropped when it is full.
const maxLeaseSlots = 256

// maxKeysPerLease bounds how many key writes one lease serves before the
// cache grants another. With authentication on, etcd checks a non-root
// user's write permission on every key already attached to a lease each
// time a put names that lease, so a put's cost grows with the keys on its
// lease: one lease per ttl for a whole window made each write cost
// thousands of permission checks under load. Capping the keys keeps that
// check small; the extra grants (one per maxKeysPerLease writes) cost
// little, and without authentication nothing but those grants changes.
const maxKeysPerLease = 64

// leaseCache hands out etcd leases for ttls so that keys written with the same
// ttl within a short window share one lease instead of granting one each.
//
// A lease granted at local time g with TTL T expires on the server no earlier
// than g+T (the server starts its clock after receiving the grant). A key
// that must live for ttl (rounded up to whole seconds, n) from now may use the
// lease while now+n <= g+T. New leases are granted for n plus the window, so
// each lease serves for about one window, or for maxKeysPerLease key writes
// if those come first, and keys outlive their ttl by at most the window plus
// a second of rounding (more only if etcd raises the TTL to its minimum or
// extends leases after a leader change).
type leaseCache struct {
	lease  clientv3.Lease
	window time.Duration // zero: derived from the ttl

	mu    sync.Mutex
	slots map[int64]*leaseSlot // by ttl in whole seconds
}

type leaseSlot struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	expires time.Time // lower bound of the lease's expiry on the server
	keys    int       // key writes handed this lease so far
}

func newLeaseCache(lease clientv3.Lease, window time.Duration) *leaseCache {
	return &leaseCache{lease: lease, window: window, slots: make(map[int64]*leaseSlot)}
}

func ttlSeconds(ttl time.Duration) int64 {
	return int64((ttl + time.Second - 1) / time.Second)
}

// windowFor returns how long one lease for ttl is reused.
func (c *leaseCache) windowFor(ttl time.Duration) time.Duration {
	if c.window > 0 {
		return c.window
	}
	return min(max(ttl/10, time.Second), time.Minute)
}

func (c *leaseCache) slot(secs int64) *leaseSlot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sl, ok := c.slots[secs]; ok {
		return sl
	}
	if len(c.slots) >= maxLeaseSlots {
		now := time.Now()
		for k, sl := range c.slots {
			if sl.mu.TryLock() {
				stale := sl.expires.Before(now)
				sl.mu.Unlock()
				if stale {
					delete(c.slots, k)
				}
			}
		}
	}
	sl := &leaseSlot{}
	c.slots[secs] = sl
	return sl
}

// get returns a lease that lives at least ttl from now, for the caller to
// name in keys key writes (counted as at least one).
func (c *leaseCache) get(ctx context.Context, ttl time.Duration, keys int) (clientv3.LeaseID, error) {
	secs := ttlSeconds(ttl)
	sl := c.slot(secs)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	keys = max(keys, 1)
	need := time.Now().Add(time.Duration(secs) * time.Second)
	if sl.id != 0 && !sl.expires.Before(need) && (sl.keys == 0 || sl.keys+keys <= maxKeysPerLease) {
		sl.keys += keys
		return sl.id, nil
	}
	extra := ttlSeconds(c.windowFor(ttl))
	granted := time.Now()
	resp, err := c.lease.Grant(ctx, secs+extra)
	if err != nil {
		return 0, err
	}
	if resp.Error != "" {
		return 0, errors.New(resp.Error)
	}
	sl.id = resp.ID
	sl.expires = granted.Add(time.Duration(resp.TTL) * time.Second)
	sl.keys = keys
	return sl.id, nil
}

// forget drops id from the cache after etcd reported it missing.
func (c *leaseCache) forget(ttl time.Duration, id clientv3.LeaseID) {
	sl := c.slot(ttlSeconds(ttl))
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.id == id {
		sl.id = 0
	}
}
