package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/faas-flow/faas-flow/examples/demo"
	objectetl "github.com/faas-flow/faas-flow/examples/objectetl"
)

// TestObjectETLOnTheLocalStackWithMinIO deploys the objectetl example on
// the local stack running on MinIO, uploads the demo's files to the
// incoming bucket, starts the flow for each with the body a bucket
// notification posts, and checks the outgoing bucket: the JSON result and
// the fault report of each valid file, and a fault report of the whole
// file for the broken one.
func TestObjectETLOnTheLocalStackWithMinIO(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "objectetl.yml"))
	// The stack's MinIO, and the keys and etcd login it gives its flows.
	st := demo.ObjectStack{GatewayURL: s.URL(), S3Endpoint: s.minio.EndpointURL().Host, EtcdEndpoints: s.EtcdEndpoints()}
	if err := st.ReadSecrets(s.SecretsDir()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	outcomes, err := demo.RunObjectETL(context.Background(), st, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	checkObjectETLOutcomes(t, s, outcomes)

	t.Run("a request body that is not an event fails the request", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/function/objectetl?wait=30s", []byte("incoming/orders/x.csv"), nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "bad object event") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

// checkObjectETLOutcomes checks the outcome of every demo file: the valid
// files' results and fault reports, and a fault report of the whole file,
// without a result, for the broken one.
func checkObjectETLOutcomes(t *testing.T, s *stack, outcomes []demo.ObjectOutcome) {
	t.Helper()
	files := demo.ObjectETLFiles()
	if len(outcomes) != len(files) {
		t.Fatalf("%d outcomes for %d files", len(outcomes), len(files))
	}
	for _, o := range outcomes {
		if o.Key == "orders/broken.xml" {
			if o.Summary.Status != objectetl.StatusFileRejected || !o.Report.FileRejected || len(o.Report.Faults) != 1 ||
				!strings.Contains(o.Report.Faults[0].Reason, "not well-formed XML") {
				t.Fatalf("broken file: %+v %+v", o.Summary, o.Report)
			}
			if _, err := s.minio.StatObject(context.Background(), demo.OutgoingBucket, objectetl.OutputKey(o.Key), minio.StatObjectOptions{}); err == nil {
				t.Fatal("a result was written for the broken file")
			}
			continue
		}
		n := 80000
		if strings.HasSuffix(o.Key, ".xml") {
			n = 25000
		}
		want := sampleCounts(n)
		if o.Summary.Status != objectetl.StatusOK || o.Summary.Counts != want || o.Report.Counts != want || len(o.Report.Faults) != want.Rejected {
			t.Fatalf("%s: summary %+v, report %+v with %d faults; want %+v", o.Key, o.Summary, o.Report.Counts, len(o.Report.Faults), want)
		}
		checkResultObject(t, s, o.Key, want.Accepted)
	}
}

// sampleCounts counts the sample orders' outcomes under the sample rules,
// from the samples' description.
func sampleCounts(n int) objectetl.Counts {
	c := objectetl.Counts{Records: n}
	for i := 1; i <= n; i++ {
		switch {
		case i%4999 == 0, i%1009 == 0, i%997 == 0:
			c.Rejected++
		case i%13 == 0:
			c.Filtered++
		default:
			c.Accepted++
		}
	}
	return c
}

func checkResultObject(t *testing.T, s *stack, key string, accepted int) {
	t.Helper()
	obj, err := s.minio.GetObject(context.Background(), demo.OutgoingBucket, objectetl.OutputKey(key), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var recs []map[string]any
	if err := json.NewDecoder(obj).Decode(&recs); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if len(recs) != accepted || recs[0]["id"] != 1.0 || recs[0]["customer_name"] != "customer-0001" || recs[0]["paid"] != false {
		t.Fatalf("%s: %d records, first %v", key, len(recs), recs[0])
	}
}
