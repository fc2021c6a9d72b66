package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/etcd"
	"github.com/faas-flow/faas-flow/statestore/storetest"
)

func newStore(t testing.TB, opts etcd.Options) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := etcd.New(ctx, opts)
	if err != nil {
		t.Fatalf("etcd.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rawClient(t testing.TB, srv *testenv.EtcdServer) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, TLS: srv.ClientTLS(), Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("raw etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func rawKeys(t testing.TB, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("raw get: %v", err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys
}

// TestConformance runs the StateStore suite on a real etcd; each subtest gets
// its own key prefix on one server.
func TestConformance(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) sdk.StateStore {
		return newStore(t, etcd.Options{
			Endpoints: srv.Endpoints(),
			KeyPrefix: fmt.Sprintf("suite/%d/", n.Add(1)),
		})
	}, storetest.Options{MaxTTLOverrun: 5 * time.Second})
}

// TestConformanceWithSerializableReads: on a single-member cluster the
// faster serializable reads keep every guarantee of the suite.
func TestConformanceWithSerializableReads(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) sdk.StateStore {
		return newStore(t, etcd.Options{
			Endpoints:         srv.Endpoints(),
			KeyPrefix:         fmt.Sprintf("suite/%d/", n.Add(1)),
			SerializableReads: true,
		})
	}, storetest.Options{MaxTTLOverrun: 5 * time.Second})
}

func TestKeysLiveUnderTheConfiguredPrefix(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	raw := rawClient(t, srv)
	ctx := context.Background()
	def := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	other := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), KeyPrefix: "tenant2/"})
	for _, s := range []*etcd.Store{def, other} {
		if _, ok, err := s.Create(ctx, "flowA/req1/request", []byte("v"), 0); err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
	}
	if got := rawKeys(t, raw, ""); strings.Join(got, ",") != "faasflow/flowA/req1/request,tenant2/flowA/req1/request" {
		t.Fatalf("raw etcd keys = %q", got)
	}
	if err := def.DeletePrefix(ctx, ""); err != nil {
		t.Fatalf("DeletePrefix: %v", err)
	}
	if got := rawKeys(t, raw, ""); strings.Join(got, ",") != "tenant2/flowA/req1/request" {
		t.Fatalf("after DeletePrefix(\"\") under the default prefix, raw keys = %q", got)
	}
}

func TestLeasesAreSharedAndNeverShort(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	raw := rawClient(t, srv)
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), KeyPrefix: "l/"})
	ctx := context.Background()
	const ttl = 30 * time.Second
	start := time.Now()
	for i := 0; i < 100; i++ {
		if _, ok, err := s.Create(ctx, fmt.Sprintf("f/r/k%d", i), []byte("v"), ttl); err != nil || !ok {
			t.Fatalf("Create = %v, %v", ok, err)
		}
	}
	_, ver, err := s.Get(ctx, "f/r/k0")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.CompareAndSwap(ctx, "f/r/k0", ver, []byte("w"), 10*time.Second); err != nil || !ok {
		t.Fatalf("CompareAndSwap = %v, %v", ok, err)
	}
	leases, err := raw.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 100 keys with one ttl within a few seconds, one with another ttl.
	if n := len(leases.Leases); n < 2 || n > 4 {
		t.Fatalf("%d leases granted for 100 keys with one ttl and 1 with another; want 2..4 (shared)", n)
	}
	resp, err := raw.Get(ctx, "l/f/r/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for _, kv := range resp.Kvs {
		want := ttl
		if string(kv.Key) == "l/f/r/k0" {
			want = 10 * time.Second
		}
		ttlResp, err := raw.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			t.Fatal(err)
		}
		remaining := time.Duration(ttlResp.TTL) * time.Second
		// etcd reports whole seconds, rounded down.
		if remaining+time.Second < want-elapsed {
			t.Fatalf("key %s has %v left of its lease, but asked for %v %v ago", kv.Key, remaining, want, elapsed)
		}
		if remaining > want+time.Minute {
			t.Fatalf("key %s lease has %v left, far beyond its ttl %v", kv.Key, remaining, want)
		}
	}
}

func TestListPagesThroughManyKeysInOrder(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	raw := rawClient(t, srv)
	ctx := context.Background()
	const n = 2500
	for i := 0; i < n; i += 100 {
		var ops []clientv3.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("faasflow/f/r/%05d", j), fmt.Sprint(j)))
		}
		if _, err := raw.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Put(ctx, "faasflow/f/s/0", "other"); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints()})
	kvs, err := s.List(ctx, "f/r/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(kvs) != n {
		t.Fatalf("List returned %d keys, want %d", len(kvs), n)
	}
	for i, kv := range kvs {
		if want := fmt.Sprintf("f/r/%05d", i); kv.Key != want || string(kv.Value) != fmt.Sprint(i) {
			t.Fatalf("entry %d = %q=%q, want %q", i, kv.Key, kv.Value, want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts etcd.Options
		want string
	}{
		{"no endpoints", etcd.Options{}, "no endpoints"},
		{"http endpoint with TLS", etcd.Options{Endpoints: []string{"http://127.0.0.1:1"}, TLS: &etcd.TLSFiles{}}, "http:// but TLS"},
		{"unknown scheme", etcd.Options{Endpoints: []string{"unix://x"}}, "unsupported scheme"},
		{"missing CA file", etcd.Options{Endpoints: []string{"127.0.0.1:1"}, TLS: &etcd.TLSFiles{CAFile: "/nonexistent/ca.pem"}}, "CA file"},
		{"cert without key", etcd.Options{Endpoints: []string{"127.0.0.1:1"}, TLS: &etcd.TLSFiles{CertFile: "c.pem"}}, "together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := etcd.New(context.Background(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want error containing %q", err, c.want)
			}
		})
	}
}

// The engine keeps its transactions (a claim with its children's records,
// a fork's branch records) within etcd's default limit of 128 operations;
// beyond it etcd refuses the whole transaction, and the error says so
// instead of passing for an outage.
func TestTxnWithinAndBeyondEtcdsOperationLimit(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), KeyPrefix: "x/"})
	ctx := context.Background()
	creates := func(n int, tag string) []sdk.TxnOp {
		ops := make([]sdk.TxnOp, n)
		for i := range ops {
			ops[i] = sdk.TxnCreate(fmt.Sprintf("f/r/%s/%d", tag, i), []byte("p"), time.Minute)
		}
		return ops
	}
	ok := append([]sdk.TxnOp{sdk.TxnGet("f/r")}, creates(66, "ok")...)
	res, err := s.Txn(ctx, ok...)
	if err != nil {
		t.Fatalf("Txn of %d ops: %v", len(ok), err)
	}
	for i, r := range res[1:] {
		if !r.OK {
			t.Fatalf("create %d of %d not done", i, len(res)-1)
		}
	}
	_, err = s.Txn(ctx, creates(129, "big")...)
	if err == nil {
		t.Fatal("Txn of 129 ops succeeded; etcd's default limit is 128")
	}
	if errors.Is(err, sdk.ErrStoreUnavailable) {
		t.Fatalf("over-limit error %v passes for an outage", err)
	}
	t.Logf("over the limit: %v", err)
	if n, _ := s.List(ctx, "f/r/big/"); len(n) != 0 {
		t.Fatalf("%d keys of the refused transaction were written", len(n))
	}
}

// TestATxnOutlivesARevokedLease: a transaction whose cached lease was
// revoked behind the store's back (etcd answers "lease not found") is
// tried again with a new lease, and writes.
func TestATxnOutlivesARevokedLease(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	raw := rawClient(t, srv)
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), KeyPrefix: "rv/"})
	ctx := context.Background()
	const ttl = time.Minute
	if _, err := s.Txn(ctx, sdk.TxnCreate("a", []byte("1"), ttl)); err != nil {
		t.Fatal(err)
	}
	revokeEveryLease(t, raw)
	res, err := s.Txn(ctx, sdk.TxnCreate("b", []byte("2"), ttl), sdk.TxnCount("a"))
	if err != nil {
		t.Fatalf("a txn after its cached lease was revoked: %v", err)
	}
	if !res[0].OK || res[1].Count != 0 {
		t.Fatalf("results %+v: want b created and a gone with its lease", res)
	}
	if keys := rawKeys(t, raw, "rv/"); len(keys) != 1 || keys[0] != "rv/b" {
		t.Fatalf("keys %v, want [rv/b]", keys)
	}
}

// TestACreateOutlivesARevokedLease: as TestATxnOutlivesARevokedLease, for
// the single-key writes.
func TestACreateOutlivesARevokedLease(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	raw := rawClient(t, srv)
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), KeyPrefix: "rc/"})
	ctx := context.Background()
	const ttl = time.Minute
	ver, ok, err := s.Create(ctx, "a", []byte("1"), ttl)
	if err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	revokeEveryLease(t, raw)
	if _, ok, err := s.Create(ctx, "b", []byte("2"), ttl); err != nil || !ok {
		t.Fatalf("a create after its cached lease was revoked: %v, %v", ok, err)
	}
	// a went with its lease: a swap at its old version finds nothing.
	if _, ok, err := s.CompareAndSwap(ctx, "a", ver, []byte("3"), ttl); err != nil || ok {
		t.Fatalf("a swap of a key gone with its lease = %v, %v; want false, nil", ok, err)
	}
	if keys := rawKeys(t, raw, "rc/"); len(keys) != 1 || keys[0] != "rc/b" {
		t.Fatalf("keys %v, want [rc/b]", keys)
	}
}

// revokeEveryLease revokes, behind the store's back, every lease of the
// server; there must be one.
func revokeEveryLease(t *testing.T, raw *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	leases, err := raw.Leases(ctx)
	if err != nil || len(leases.Leases) == 0 {
		t.Fatalf("leases after a leased write: %v, %v", leases, err)
	}
	for _, l := range leases.Leases {
		if _, err := raw.Revoke(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
}
