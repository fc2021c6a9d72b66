package embedded

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestNATSJetStreamPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n, err := StartNATS(NATSOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("embedded NATS did not start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := n.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	n.Close()

	n2, err := StartNATS(NATSOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer n2.Close()
	nc2, err := n2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	s, err := js2.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("message after restart = %v, %v", m, err)
	}
}

func TestEtcdServesAndKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatalf("embedded etcd did not start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	url1 := e.ClientURL()
	e.Close()

	e2, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e2.Close()
	if e2.ClientURL() != url1 {
		t.Errorf("client URL changed across restart: %s -> %s", url1, e2.ClientURL())
	}
	c2, err := clientv3.New(clientv3.Config{Endpoints: []string{e2.ClientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r, err := c2.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get after restart = %v, %v", r, err)
	}
}

// etcdClient connects to e for the test.
func etcdClient(t *testing.T, e *Etcd) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEtcdCompactsTheHistoryItKeeps: old revisions of keys are compacted
// away once they are older than HistoryRetention, while the server runs.
func TestEtcdCompactsTheHistoryItKeeps(t *testing.T) {
	e, err := StartEtcd(EtcdOptions{Dir: t.TempDir(), HistoryRetention: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := etcdClient(t, e)
	first, err := c.Put(ctx, "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Keep writing: the periodic compactor compacts to a revision it
		// saw a retention period ago.
		if _, err := c.Put(ctx, "k", "v2"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Get(ctx, "k", clientv3.WithRev(first.Header.Revision))
		if errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d is still readable after 20s with a retention of 1s", first.Header.Revision)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r, err := c.Get(ctx, "k"); err != nil || string(r.Kvs[0].Value) != "v2" {
		t.Fatalf("current value after compaction: %v, %v", r, err)
	}
}

// TestEtcdStartReclaimsAnEarlierRunsHistory: a data directory whose history
// was never compacted is compacted when etcd starts on it, and its database
// file, mostly free space by the next start, is defragmented then.
func TestEtcdStartReclaimsAnEarlierRunsHistory(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A retention longer than the test: nothing is compacted while writing.
	opts := EtcdOptions{Dir: dir, HistoryRetention: time.Hour, defragMinBytes: 1 << 20}
	e, err := StartEtcd(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := etcdClient(t, e)
	value := strings.Repeat("x", 4096)
	var first int64
	for i := 0; i < 2000; i++ {
		r, err := c.Put(ctx, "k", value)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Header.Revision
		}
	}
	before, err := c.Status(ctx, e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	e.Close()

	e, err = StartEtcd(opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	c = etcdClient(t, e)
	if _, err := c.Get(ctx, "k", clientv3.WithRev(first)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("the earlier run's revision %d after a restart: %v, want ErrCompacted", first, err)
	}
	// Let the background compaction empty the file before the next start
	// (the writes commit, so that the pages it frees count as free).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Put(ctx, "tick", "x"); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(ctx, e.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		if st.DbSizeInUse < st.DbSize/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compaction freed nothing in 30s: %d of %d bytes in use", st.DbSizeInUse, st.DbSize)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Close()
	e.Close()

	e, err = StartEtcd(opts)
	if err != nil {
		t.Fatalf("second restart: %v", err)
	}
	defer e.Close()
	c = etcdClient(t, e)
	after, err := c.Status(ctx, e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if after.DbSize > before.DbSize/4 {
		t.Fatalf("database file %d bytes after a start on a mostly free one of %d; not defragmented", after.DbSize, before.DbSize)
	}
	if r, err := c.Get(ctx, "k"); err != nil || string(r.Kvs[0].Value) != value {
		t.Fatalf("current value after the maintenance: %v", err)
	}
}

// TestEtcdStartClearsAnOutOfSpaceAlarm: etcd refuses every write once its
// space alarm is raised; starting on such a directory compacts, defragments
// and clears the alarm, so writes work again.
func TestEtcdStartClearsAnOutOfSpaceAlarm(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := etcdClient(t, e)
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx, e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	// What etcd does itself when the file outgrows its quota.
	if _, err := etcdserverpb.NewMaintenanceClient(c.ActiveConnection()).Alarm(ctx, &etcdserverpb.AlarmRequest{
		Action: etcdserverpb.AlarmRequest_ACTIVATE, MemberID: st.Header.MemberId, Alarm: etcdserverpb.AlarmType_NOSPACE,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", "refused"); !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("write with the alarm raised: %v, want ErrNoSpace", err)
	}
	c.Close()
	e.Close()

	e, err = StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e.Close()
	c = etcdClient(t, e)
	if _, err := c.Put(ctx, "k", "accepted"); err != nil {
		t.Fatalf("write after a restart: %v", err)
	}
	if a, err := c.AlarmList(ctx); err != nil || len(a.Alarms) != 0 {
		t.Fatalf("alarms after a restart: %v, %v", a, err)
	}
}

// TestEtcdServesCallsOnAStandingPoolOfGoroutines: the embedded etcd keeps
// a pool of goroutines for its calls, so a call does not start a new
// goroutine whose stack then grows by copying.
func TestEtcdServesCallsOnAStandingPoolOfGoroutines(t *testing.T) {
	e, err := StartEtcd(EtcdOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("embedded etcd did not start: %v", err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := etcdClient(t, e).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if n := strings.Count(stacks, "grpc.(*Server).serverWorker("); n < etcdStreamWorkers {
		t.Fatalf("%d goroutines wait for etcd's calls, want at least %d", n, etcdStreamWorkers)
	}
}
