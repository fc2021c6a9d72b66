package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The Floor benchmarks measure what one node execution of an async flow
// cannot do without on the local stack, each part alone, with the client
// and the server in this process: two etcd write transactions (the claim,
// and the last write), one JetStream message (the hop: published, stored,
// delivered and acknowledged) and one HTTP call (the queue worker posting
// the hop to the flow). Each reports the CPU time of the whole process per
// operation (cpu-µs/op), 50 operations in flight as in faasflow bench's
// throughput phases; their sum is the floor under the CPU per node
// execution that faasflow bench reports.

// floorInFlight is how many operations run at once.
const floorInFlight = 50

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runFloor runs op b.N times, floorInFlight at once, and reports the
// process's CPU time per op.
func runFloor(b *testing.B, op func(i int64) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Value
	b.SetParallelism((floorInFlight + 1) / 2) // of GOMAXPROCS, 2 on the reference machine
	b.ReportAllocs()
	b.ResetTimer()
	start := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(next.Add(1)); err != nil {
				failed.Store(err)
			}
		}
	})
	used := processCPU() - start
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkFloorEtcdWrite is one of the two etcd transactions a node
// execution writes: a compare on the node's record, its new value and a
// record created for the next node, both under a lease, and a read of the
// request's record; on an etcd with authentication on, as the local
// stack's, whose client has the root role, and for comparison off.
func BenchmarkFloorEtcdWrite(b *testing.B) {
	for _, auth := range []bool{true, false} {
		b.Run(fmt.Sprint("auth=", auth), func(b *testing.B) { floorEtcd(b, auth) })
	}
}

// floorEtcd runs BenchmarkFloorEtcdWrite with authentication on or off.
func floorEtcd(b *testing.B, auth bool) {
	o := EtcdOptions{Dir: b.TempDir(), RootPassword: "root-pw", Users: []EtcdUser{{Name: "flows", Password: "pw", Admin: true}}}
	user, pw := "flows", "pw"
	if !auth {
		o = EtcdOptions{Dir: b.TempDir()}
		user, pw = "", ""
	}
	e, err := StartEtcd(o)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL()}, Username: user, Password: pw, Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	lease, err := c.Grant(ctx, 3600)
	if err != nil {
		b.Fatal(err)
	}
	record, next := string(bytes.Repeat([]byte("r"), 230)), string(bytes.Repeat([]byte("n"), 130))
	if _, err := c.Put(ctx, "/r/request", record); err != nil {
		b.Fatal(err)
	}
	runFloor(b, func(i int64) error {
		k := "/w/request/n/" + strconv.FormatInt(i, 10)
		_, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, record, clientv3.WithLease(lease.ID)), clientv3.OpGet("/r/request"),
				clientv3.OpPut(k+"/next", next, clientv3.WithLease(lease.ID))).Commit()
		return err
	})
}

// BenchmarkFloorJetStreamHop is one hop through the queue: a 1.2 KB
// message published with a message id and waiting for JetStream's ack,
// then delivered to a consumer that acknowledges it.
func BenchmarkFloorJetStreamHop(b *testing.B) {
	n, err := StartNATS(NATSOptions{StoreDir: b.TempDir(), Password: "pw"})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	pub, err := n.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := n.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	js, err := jetstream.New(pub)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "floor", Subjects: []string{"floor.>"}, Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy}); err != nil {
		b.Fatal(err)
	}
	jsSub, err := jetstream.New(sub)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := jsSub.CreateOrUpdateConsumer(ctx, "floor", jetstream.ConsumerConfig{Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var delivered atomic.Int64
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if m.Ack() == nil {
			delivered.Add(1)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	msg := bytes.Repeat([]byte("m"), 1200)
	runFloor(b, func(i int64) error {
		_, err := js.Publish(ctx, "floor.hop", msg, jetstream.WithMsgID(strconv.FormatInt(i, 10)))
		return err
	})
	// The CPU above includes deliveries still in progress; wait for them so
	// that the next benchmark does not pay for them.
	for deadline := time.Now().Add(30 * time.Second); delivered.Load() < int64(b.N) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkFloorHTTPCall is the queue worker's call of the flow: a 1.2 KB
// POST over a kept-alive loopback connection and a short answer.
func BenchmarkFloorHTTPCall(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"status":"done"}`))
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: floorInFlight}}
	defer client.CloseIdleConnections()
	url := "http://" + l.Addr().String() + "/flow/request/forward"
	body := bytes.Repeat([]byte("h"), 1200)
	runFloor(b, func(int64) error {
		r, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return err
	})
}
