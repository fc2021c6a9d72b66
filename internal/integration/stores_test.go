package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/internal/testflow"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// env is one etcd and one MinIO server with stores and raw clients on them.
type env struct {
	state   *etcd.Store
	data    *minio.Store
	rawEtcd *clientv3.Client
	rawS3   *miniogo.Client
	bucket  string
	prefix  string // etcd key prefix of the state store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	es := testenv.StartEtcd(t, testenv.EtcdConfig{})
	ms := testenv.MinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state, err := etcd.New(ctx, etcd.Options{Endpoints: es.Endpoints()})
	if err != nil {
		t.Fatalf("etcd store: %v", err)
	}
	t.Cleanup(func() { _ = state.Close() })
	data, err := minio.New(ctx, minio.Options{Endpoint: ms.Endpoint, AccessKey: ms.AccessKey, SecretKey: ms.SecretKey})
	if err != nil {
		t.Fatalf("minio store: %v", err)
	}
	t.Cleanup(func() { _ = data.Close() })
	rawEtcd, err := clientv3.New(clientv3.Config{Endpoints: es.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rawEtcd.Close() })
	rawS3, err := miniogo.New(ms.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(ms.AccessKey, ms.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return &env{state: state, data: data, rawEtcd: rawEtcd, rawS3: rawS3, bucket: minio.DefaultBucket, prefix: etcd.DefaultKeyPrefix}
}

// etcdKeys lists every key in etcd (all prefixes), without the store prefix.
func (e *env) etcdKeys(t *testing.T) []string {
	t.Helper()
	resp, err := e.rawEtcd.Get(context.Background(), "", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	return keys
}

// objects lists every object in the bucket.
func (e *env) objects(t *testing.T) []string {
	t.Helper()
	var names []string
	for o := range e.rawS3.ListObjects(context.Background(), e.bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		names = append(names, o.Key)
	}
	sort.Strings(names)
	return names
}

// countingData counts writes so the test can prove data went through MinIO.
type countingData struct {
	faasflow.DataStore
	puts atomic.Int64
}

func (c *countingData) Put(ctx context.Context, key string, data []byte) error {
	c.puts.Add(1)
	return c.DataStore.Put(ctx, key, data)
}

func upper(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }

// branchingFlow: start fans out to a foreach (two-node chain per branch,
// aggregated) and to a counter; both meet in a parallel join, then end.
// fired counts completed runs of the nodes that must run exactly once.
func branchingFlow(fired *sync.Map) faasflow.DefineFunc {
	once := func(ctx *faasflow.Context, node string, m faasflow.Modifier) faasflow.Modifier {
		return func(in []byte) ([]byte, error) {
			out, err := m(in)
			if err == nil {
				n, _ := fired.LoadOrStore(ctx.GetRequestId()+"/"+node, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
			}
			return out, err
		}
	}
	return func(flow *faasflow.Workflow, ctx *faasflow.Context) error {
		d := flow.Dag()
		d.Node("start").Modify(once(ctx, "start", testflow.AppendMod("")))
		each := d.ForEachBranch("each", testflow.SplitComma, faasflow.Aggregator(testflow.JoinSorted))
		each.Node("up").Modify(upper)
		each.Node("bang").Modify(testflow.AppendMod("!"))
		each.Edge("up", "bang")
		d.Node("count").Modify(func(in []byte) ([]byte, error) { return []byte(fmt.Sprint(len(in))), nil })
		d.Node("join", faasflow.Aggregator(testflow.JoinSorted)).Modify(once(ctx, "join", testflow.AppendMod("")))
		d.Node("end").Modify(once(ctx, "end", func(in []byte) ([]byte, error) { return append([]byte("["), append(in, ']')...), nil }))
		d.Edge("start", "each")
		d.Edge("start", "count")
		d.Edge("each", "join")
		d.Edge("count", "join")
		d.Edge("join", "end")
		return nil
	}
}

const (
	flowInput  = "a,b,c,d,e"
	flowOutput = "[count=9,each=a=A!,b=B!,c=C!,d=D!,e=E!]"
)

func runFlows(t *testing.T, e *env, retention time.Duration, requests int) (ids []string, data *countingData) {
	t.Helper()
	data = &countingData{DataStore: e.data}
	var fired sync.Map
	h, err := flowtest.New(branchingFlow(&fired),
		flowtest.WithFlowName("branching"),
		flowtest.WithStores(e.state, data),
		flowtest.WithWorkers(4),
		flowtest.WithChaos(flowtest.Chaos{Seed: 42, Duplicate: 0.5, Reorder: true, Delay: 0.2, MaxDelay: 5 * time.Millisecond}),
		flowtest.WithEngineOptions(func(o *engine.Options) {
			o.Retention = retention
			o.InlineLimit = 1 // every edge's data goes through MinIO
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := make([]*flowtest.Result, requests)
	errs := make([]error, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = h.Run(ctx, []byte(flowInput), flowtest.WithRequestID(fmt.Sprintf("req%d", i+1)))
		}()
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i+1, errs[i])
		}
		want := engine.StateSucceeded
		if retention < 0 {
			want = "ended-and-deleted"
		} else if string(res.Output) != flowOutput {
			t.Fatalf("request %s output %q, want %q", res.ID, res.Output, flowOutput)
		}
		if res.State != want {
			t.Fatalf("request %s state %s (err %q), want %s", res.ID, res.State, res.Err, want)
		}
		ids = append(ids, res.ID)
		for _, node := range []string{"start", "join", "end"} {
			n, _ := fired.Load(res.ID + "/" + node)
			if n == nil || n.(*atomic.Int32).Load() != 1 {
				t.Errorf("request %s: node %s completed %v times, want exactly once", res.ID, node, n)
			}
		}
	}
	sent, delivered := h.Transport.Stats()
	t.Logf("%d requests: hops sent %d, delivered %d; %d DataStore writes", requests, sent, delivered, data.puts.Load())
	if delivered <= sent {
		t.Fatalf("no hop was duplicated (sent %d, delivered %d); the test proved nothing about duplicates", sent, delivered)
	}
	if data.puts.Load() == 0 {
		t.Fatal("no data went through MinIO")
	}
	return ids, data
}

// TestBranchingFlowOnEtcdAndMinIOLeavesNothingBehind runs a flow with a
// parallel join and a foreach, with duplicated, reordered and delayed hops,
// on real etcd and MinIO. With retention off, nothing of any request may
// remain in either store afterwards.
func TestBranchingFlowOnEtcdAndMinIOLeavesNothingBehind(t *testing.T) {
	e := newEnv(t)
	runFlows(t, e, -1, 3)
	if keys := e.etcdKeys(t); len(keys) != 0 {
		t.Errorf("etcd keys left after the requests ended: %q", keys)
	}
	if objs := e.objects(t); len(objs) != 0 {
		t.Errorf("MinIO objects left after the requests ended: %q", objs)
	}
}

// TestBranchingFlowKeepsOnlyTheRecordDuringRetention: with retention on, each
// request keeps its record (and result) and its entry in the flow's listing,
// and nothing of its working state.
func TestBranchingFlowKeepsOnlyTheRecordDuringRetention(t *testing.T) {
	e := newEnv(t)
	ids, _ := runFlows(t, e, time.Hour, 2)
	var want, listed []string
	for _, id := range ids {
		want = append(want, e.prefix+"r/branching/"+id)
	}
	sort.Strings(want)
	var records []string
	for _, k := range e.etcdKeys(t) {
		if strings.HasPrefix(k, e.prefix+"l/branching/") {
			listed = append(listed, k)
			continue
		}
		records = append(records, k)
	}
	if strings.Join(records, ",") != strings.Join(want, ",") || len(listed) != len(ids) {
		t.Errorf("etcd keys after the requests ended: %q and listing entries %q\nwant only the records %q and one listing entry each", records, listed, want)
	}
	for _, o := range e.objects(t) {
		if !strings.HasPrefix(o, "r/branching/") || !strings.HasSuffix(o, "/result~") {
			t.Errorf("MinIO object left that is not a retained result: %s", o)
		}
	}
	// Records expire with their lease: etcd must hold a lease on each.
	resp, err := e.rawEtcd.Get(context.Background(), e.prefix+"r/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			t.Errorf("record %s has no lease; it would never expire", kv.Key)
		}
	}
}
