package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/faas-flow/faas-flow/examples/demo"
	objectetl "github.com/faas-flow/faas-flow/examples/objectetl"
	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// TestUploadsToTheIncomingBucketRunTheObjectETL is the ETL scenario as a
// user runs it: MinIO's webhook target points at the local gateway, the
// objectetl flow is bound to incoming/orders/ by its annotation, and the
// demo's files are uploaded; nothing else starts the flow. Each upload
// starts exactly one request, each valid file's JSON result and fault
// report appear in the outgoing bucket, the broken file ends as a fault
// record, and MinIO's notifications delivered once more start nothing.
func TestUploadsToTheIncomingBucketRunTheObjectETL(t *testing.T) {
	const token = "e2e-objectetl-webhook-token"
	var seen notifications
	relay := seen.proxy(t, "")
	mi := testenv.MinIOWithEnv(t,
		"MINIO_NOTIFY_WEBHOOK_ENABLE_FAASFLOW=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_FAASFLOW="+relay.URL,
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FAASFLOW="+token)
	s := startStackOn(t, mi, func(o *gateway.LocalOptions) { o.S3WebhookToken = token },
		filepath.Join("testdata", "objectetl-triggered.yml"))
	seen.retarget(s.URL() + gateway.S3EventsPath)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st := demo.ObjectStack{GatewayURL: s.URL(), S3Endpoint: s.minio.EndpointURL().Host, EtcdEndpoints: s.EtcdEndpoints()}
	if err := st.ReadSecrets(s.SecretsDir()); err != nil {
		t.Fatal(err)
	}
	if err := demo.SaveSampleRules(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := s.minio.MakeBucket(ctx, demo.IncomingBucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	q := notification.NewConfig(notification.NewArn("minio", "sqs", "", "FAASFLOW", "webhook"))
	q.AddEvents(notification.ObjectCreatedAll)
	q.AddFilterPrefix("orders/")
	var cfg notification.Configuration
	cfg.AddQueue(q)
	if err := s.minio.SetBucketNotification(ctx, demo.IncomingBucket, cfg); err != nil {
		t.Fatalf("set the bucket notification: %v", err)
	}

	files := demo.ObjectETLFiles()
	if err := demo.UploadObjectETLFiles(ctx, s.minio, files); err != nil {
		t.Fatal(err)
	}
	outcomes := waitObjectETLOutcomes(ctx, t, s, len(files))
	checkObjectETLOutcomes(t, s, outcomes)

	// MinIO delivers each notification again: no request starts.
	bodies, auth := seen.all()
	if len(bodies) < len(files) {
		t.Fatalf("MinIO sent %d notifications for %d uploads", len(bodies), len(files))
	}
	for _, b := range bodies {
		if r := s.postNotification(t, b, auth); r.status != http.StatusOK {
			t.Fatalf("a notification delivered again: %d %s", r.status, r.body)
		}
	}
	time.Sleep(3 * time.Second) // time for a second request to show
	if ids := s.requestsOf(t, "objectetl"); len(ids) != len(files) {
		t.Fatalf("requests after the notifications came again: %v, want %d", ids, len(files))
	}
}

// all returns every notification body the proxy saw, and the
// Authorization header MinIO sent.
func (n *notifications) all() ([][]byte, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.bodies), n.token
}

// waitObjectETLOutcomes waits until the objectetl flow has n requests, all
// ended, and returns each one's outcome: its summary (the request's
// result) and the fault report it wrote.
func waitObjectETLOutcomes(ctx context.Context, t *testing.T, s *stack, n int) []demo.ObjectOutcome {
	t.Helper()
	var ids []string
	for deadline := time.Now().Add(2 * time.Minute); len(ids) < n && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ids = s.requestsOf(t, "objectetl")
	}
	if len(ids) != n {
		t.Fatalf("requests after %d uploads: %v", n, ids)
	}
	var outcomes []demo.ObjectOutcome
	for _, id := range ids {
		if !strings.HasPrefix(id, "s3-") {
			t.Fatalf("request %s was not started by a bucket notification", id)
		}
		s.waitState(t, "objectetl", id, "succeeded", 2*time.Minute)
		res := s.do(t, http.MethodGet, "/function/objectetl/flow/"+id+"/result", nil, nil)
		o := demo.ObjectOutcome{RequestID: id}
		if err := json.Unmarshal(res.body, &o.Summary); err != nil {
			t.Fatalf("result of %s: %v: %s", id, err, res.body)
		}
		o.Key = strings.TrimPrefix(o.Summary.Input, demo.IncomingBucket+"/")
		if err := readJSONObject(ctx, s, demo.OutgoingBucket, objectetl.FaultsKey(o.Key), &o.Report); err != nil {
			t.Fatalf("fault report of %s: %v", o.Key, err)
		}
		outcomes = append(outcomes, o)
	}
	return outcomes
}

func readJSONObject(ctx context.Context, s *stack, bucket, key string, v any) error {
	obj, err := s.minio.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	if err := json.NewDecoder(obj).Decode(v); err != nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, err)
	}
	return nil
}
