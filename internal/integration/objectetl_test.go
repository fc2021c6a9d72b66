package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	objectetl "github.com/faas-flow/faas-flow/examples/objectetl"
	"github.com/faas-flow/faas-flow/internal/testenv"
	faasflow "github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/sdk/flowtest"
)

// etlCounts counts the sample orders' outcomes under the sample rules (as
// the samples describe them); withoutFilter counts them once the filter
// rule is taken out.
func etlCounts(n int, withoutFilter bool) objectetl.Counts {
	c := objectetl.Counts{Records: n}
	for i := 1; i <= n; i++ {
		switch {
		case i%4999 == 0, i%1009 == 0, i%997 == 0:
			c.Rejected++
		case i%13 == 0 && !withoutFilter:
			c.Filtered++
		default:
			c.Accepted++
		}
	}
	return c
}

// etlDeps opens the example's Deps the way its flow function does: from
// the environment and secret files a deployment gives it.
func etlDeps(t *testing.T, endpoints []string, s3 string, keys [2]string) *objectetl.Deps {
	t.Helper()
	secrets := t.TempDir()
	for name, v := range map[string]string{"s3-access-key": keys[0], "s3-secret-key": keys[1]} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"etcd_endpoints": endpoints[0], "s3_url": s3, "secret_mount_path": secrets,
		"faasflow_insecure_hops": "true", "etl_batch_size": "4000",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := objectetl.Connect(ctx, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// countingPuts counts the data store writes larger than the inline limit's
// default: the flow's multi-megabyte hops.
type countingPuts struct {
	faasflow.DataStore
	large atomic.Int64
}

func (c *countingPuts) Put(ctx context.Context, key string, data []byte) error {
	if len(data) > 64<<10 {
		c.large.Add(1)
	}
	return c.DataStore.Put(ctx, key, data)
}

func TestObjectETLOnMinIOAndEtcdWritesResultsAndFaultReports(t *testing.T) {
	e := newEnv(t)
	mi := testenv.MinIO(t) // the objects' own MinIO, as a deployment may have
	ms, err := miniogo.New(mi.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(mi.AccessKey, mi.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	data := &countingPuts{DataStore: e.data}
	deps := etlDeps(t, e.rawEtcd.Endpoints(), mi.Endpoint, [2]string{mi.AccessKey, mi.SecretKey})
	ctx := context.Background()
	if err := ms.MakeBucket(ctx, "incoming", miniogo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const csvRows, xmlRows = 80000, 25000
	files := map[string][]byte{
		"orders/2026-12-06.csv": objectetl.SampleCSV(csvRows),
		"orders/2026-12-06.xml": objectetl.SampleXML(xmlRows),
		"orders/broken.xml":     objectetl.SampleBroken(),
	}
	for k, b := range files {
		if _, err := ms.PutObject(ctx, "incoming", k, bytes.NewReader(b), int64(len(b)), miniogo.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := objectetl.SaveRules(ctx, deps.Rules, "objectetl", []byte(objectetl.SampleRules)); err != nil {
		t.Fatal(err)
	}
	h, err := flowtest.New(objectetl.NewDefine(func(context.Context) (*objectetl.Deps, error) { return deps, nil }),
		flowtest.WithFlowName("objectetl"), flowtest.WithStores(e.state, data))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	run := func(key string) objectetl.Summary {
		t.Helper()
		body, _ := json.Marshal(objectetl.Event{Bucket: "incoming", Key: key, Size: int64(len(files[key])), EventName: "s3:ObjectCreated:Put"})
		res, err := h.Run(ctx, body)
		if err != nil || res.State != "succeeded" {
			t.Fatalf("%s: %v %s %s", key, err, res.State, res.Err)
		}
		var s objectetl.Summary
		if err := json.Unmarshal(res.Output, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for key, n := range map[string]int{"orders/2026-12-06.csv": csvRows, "orders/2026-12-06.xml": xmlRows} {
		s := run(key)
		if s.Status != objectetl.StatusOK || s.Counts != etlCounts(n, false) {
			t.Fatalf("%s: %+v, want %+v", key, s, etlCounts(n, false))
		}
		checkETLObjects(t, ms, key, s.Counts)
	}
	if data.large.Load() == 0 {
		t.Fatal("no multi-megabyte hop went through the MinIO data store")
	}
	s := run("orders/broken.xml")
	var r objectetl.Report
	readJSON(t, ms, "outgoing", objectetl.FaultsKey("orders/broken.xml"), &r)
	if s.Status != objectetl.StatusFileRejected || !r.FileRejected || len(r.Faults) != 1 || r.Faults[0].Reason == "" {
		t.Fatalf("broken file: %+v, report %+v", s, r)
	}
	if _, err := ms.StatObject(ctx, "outgoing", objectetl.OutputKey("orders/broken.xml"), miniogo.StatObjectOptions{}); err == nil {
		t.Fatal("a result was written for the broken file")
	}

	// Edited rules apply to the next request, without a new deployment.
	var rules map[string]any
	_ = json.Unmarshal([]byte(objectetl.SampleRules), &rules)
	delete(rules, "filter")
	edited, _ := json.Marshal(rules)
	if err := objectetl.SaveRules(ctx, deps.Rules, "objectetl", edited); err != nil {
		t.Fatal(err)
	}
	if s := run("orders/2026-12-06.xml"); s.Counts != etlCounts(xmlRows, true) {
		t.Fatalf("after the rules changed: %+v, want %+v", s.Counts, etlCounts(xmlRows, true))
	}
}

// checkETLObjects checks the result and the fault report of key.
func checkETLObjects(t *testing.T, ms *miniogo.Client, key string, c objectetl.Counts) {
	t.Helper()
	var out []map[string]any
	readJSON(t, ms, "outgoing", objectetl.OutputKey(key), &out)
	if len(out) != c.Accepted || out[0]["customer_name"] != "customer-0001" || out[0]["id"] != 1.0 {
		t.Fatalf("%s: %d records, first %v", key, len(out), out[0])
	}
	var r objectetl.Report
	readJSON(t, ms, "outgoing", objectetl.FaultsKey(key), &r)
	if r.Input.Key != key || r.Counts != c || len(r.Faults) != c.Rejected {
		t.Fatalf("%s: report %+v with %d faults", key, r.Counts, len(r.Faults))
	}
	for _, f := range r.Faults {
		if f.Record%4999 != 0 && f.Record%1009 != 0 && f.Record%997 != 0 || f.Reason == "" {
			t.Fatalf("%s: fault %+v of a good record", key, f)
		}
	}
}

func readJSON(t *testing.T, ms *miniogo.Client, bucket, key string, v any) {
	t.Helper()
	obj, err := ms.GetObject(context.Background(), bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if err := json.NewDecoder(obj).Decode(v); err != nil {
		t.Fatalf("%s/%s: %v", bucket, key, err)
	}
}
