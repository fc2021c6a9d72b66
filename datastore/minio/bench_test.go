package minio_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
)

// BenchmarkPutGet measures one Put followed by one Get of a fresh key on a
// real MinIO server, for small and large values.
func BenchmarkPutGet(b *testing.B) {
	srv := testenv.MinIO(b)
	s := newStore(b, options(srv))
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ctx := context.Background()
			value := bytes.Repeat([]byte{'v'}, size)
			var (
				seq  atomic.Int64
				mu   sync.Mutex
				lats []time.Duration
			)
			b.SetBytes(int64(2 * size))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var local []time.Duration
				for pb.Next() {
					key := fmt.Sprintf("bench/req%d/data/n1", seq.Add(1))
					t0 := time.Now()
					if err := s.Put(ctx, key, value); err != nil {
						b.Errorf("Put: %v", err)
						return
					}
					got, err := s.Get(ctx, key)
					if err != nil || len(got) != size {
						b.Errorf("Get = %d bytes, %v", len(got), err)
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
			if err := s.DeletePrefix(ctx, "bench/"); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func reportLatency(b *testing.B, lats []time.Duration, elapsed time.Duration) {
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	pct := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) }
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
