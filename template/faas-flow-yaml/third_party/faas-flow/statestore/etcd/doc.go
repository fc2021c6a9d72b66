// Package etcd is the sdk.StateStore on etcd v3 (go.etcd.io/etcd/client/v3).
//
// Every primitive is a single etcd request — Create and CompareAndSwap are one
// transaction each (If CreateRevision == 0 / If ModRevision == version, Then
// Put), never a read followed by a write — so they are linearizable and have
// exactly one winner among concurrent callers. The version of a key is its
// etcd ModRevision.
//
// TTLs use etcd leases drawn from a small cache: keys written with the same
// ttl within a short window share one lease, so a busy flow does not grant a
// lease per key. A key may therefore live up to that window longer than asked,
// never shorter.
//
// Each call is bounded by Options.RequestTimeout and retried with backoff on
// transient errors; a write whose outcome cannot be known (the connection
// broke after it was sent) is not retried but reported as unavailable.
// Connectivity failures wrap sdk.ErrStoreUnavailable and name the endpoints.
package etcd
