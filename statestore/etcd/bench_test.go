package etcd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// BenchmarkJoinArrival measures the engine's join primitive on a real etcd:
// record one predecessor's arrival (Create of its arrival key) and count the
// arrivals so far (List of the join's prefix). Joins have 4 predecessors.
func BenchmarkJoinArrival(b *testing.B) {
	srv := testenv.StartEtcd(b, testenv.EtcdConfig{})
	s := newStore(b, etcd.Options{Endpoints: srv.Endpoints()})
	ctx := context.Background()
	const fanIn = 4
	var (
		seq  atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			i := seq.Add(1)
			join := fmt.Sprintf("bench/req%d/join/n9/from/", i/fanIn)
			t0 := time.Now()
			_, created, err := s.Create(ctx, fmt.Sprintf("%sn%d", join, i%fanIn), []byte("1"), time.Hour)
			if err != nil || !created {
				b.Errorf("Create = %v, %v", created, err)
				return
			}
			kvs, err := s.List(ctx, join)
			if err != nil || len(kvs) == 0 {
				b.Errorf("List = %d keys, %v", len(kvs), err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatency(b, lats, elapsed)
}

func reportLatency(b *testing.B, lats []time.Duration, elapsed time.Duration) {
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	pct := func(p float64) float64 {
		return float64(lats[int(p*float64(len(lats)-1))].Microseconds())
	}
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkClaimTxn measures, on a real etcd, the transaction with which
// the engine claims a node: swap the node's record, read the request's
// record and create the record of the node it starts next.
func BenchmarkClaimTxn(b *testing.B) {
	srv := testenv.StartEtcd(b, testenv.EtcdConfig{})
	s := newStore(b, etcd.Options{Endpoints: srv.Endpoints()})
	ctx := context.Background()
	value := make([]byte, 600)
	if _, _, err := s.Create(ctx, "bench/req", value, time.Hour); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		node := fmt.Sprintf("bench/node%d", seq.Add(1))
		ver, _, err := s.Create(ctx, node, value, time.Hour)
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			next := fmt.Sprintf("bench/next%d", seq.Add(1))
			res, err := s.Txn(ctx, sdk.TxnSwap(node, ver, value, time.Hour), sdk.TxnGet("bench/req"), sdk.TxnCreate(next, value, time.Hour))
			if err != nil || !res[0].OK || !res[1].OK || !res[2].OK {
				b.Errorf("claim = %+v, %v", res, err)
				return
			}
			ver = res[0].Version
		}
	})
}
