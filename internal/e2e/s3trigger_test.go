package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/client"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// notifications passes MinIO's webhook calls on to the gateway and keeps
// each body, so that a test can deliver one again.
type notifications struct {
	mu     sync.Mutex
	bodies [][]byte
	token  string // the Authorization header MinIO sent
	target string
}

// retarget makes the proxy pass notifications on to target from now on
// (a MinIO must know the proxy's address before the gateway starts).
func (n *notifications) retarget(target string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.target = target
}

func (n *notifications) proxy(t *testing.T, target string) *httptest.Server {
	n.retarget(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n.mu.Lock()
		n.bodies, n.token = append(n.bodies, b), r.Header.Get("Authorization")
		target := n.target
		n.mu.Unlock()
		req, _ := http.NewRequest(r.Method, target, bytes.NewReader(b))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// created returns the first body MinIO sent for an object created.
func (n *notifications) created() ([]byte, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range n.bodies {
		if bytes.Contains(b, []byte("ObjectCreated")) {
			return b, n.token
		}
	}
	return nil, ""
}

// requestsOf lists the ids of flow's requests, newest first.
func (s *stack) requestsOf(t *testing.T, flow string) []string {
	t.Helper()
	page, err := s.Client().Requests(context.Background(), flow, client.RequestsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Requests {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestAnUploadToABoundBucketStartsItsFlowOnce wires a real MinIO's webhook
// notification target to the local gateway and binds the eventful flow to
// incoming/uploads/ (its annotation): an upload starts exactly one request,
// whose body names the object; the same notification delivered again
// starts no second request; a wrong token is refused with 401 and starts
// nothing; an object of a bucket no flow is bound to is accepted and
// ignored; a body that is not a notification is refused with 400.
func TestAnUploadToABoundBucketStartsItsFlowOnce(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "eventful.yml"))
	var seen notifications
	proxy := seen.proxy(t, s.URL()+gateway.S3EventsPath)
	mi := testenv.MinIOWithEnv(t,
		"MINIO_NOTIFY_WEBHOOK_ENABLE_FAASFLOW=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_FAASFLOW="+proxy.URL,
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FAASFLOW="+s.S3WebhookToken())
	mc, err := minio.New(mi.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mi.AccessKey, mi.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := mc.MakeBucket(ctx, "incoming", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	arn := notification.NewArn("minio", "sqs", "", "FAASFLOW", "webhook")
	q := notification.NewConfig(arn)
	q.AddEvents(notification.ObjectCreatedAll)
	q.AddFilterPrefix("uploads/")
	cfg := notification.Configuration{}
	cfg.AddQueue(q)
	if err := mc.SetBucketNotification(ctx, "incoming", cfg); err != nil {
		t.Fatalf("set the bucket notification: %v", err)
	}

	content := "a,b,c\n1,2,3\n"
	info, err := mc.PutObject(ctx, "incoming", "uploads/day one.csv", strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for deadline := time.Now().Add(time.Minute); len(ids) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ids = s.requestsOf(t, "eventful")
	}
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "s3-") {
		t.Fatalf("requests after the upload: %v, want one s3-… request", ids)
	}
	s.waitState(t, "eventful", ids[0], "succeeded", time.Minute)
	res := s.do(t, http.MethodGet, "/function/eventful/flow/"+ids[0]+"/result", nil, nil)
	var body map[string]any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatalf("the flow's input is not JSON: %v: %s", err, res.body)
	}
	if _, ok := body["versionId"]; !ok {
		t.Fatalf("the flow's input has no versionId: %s", res.body)
	}
	if body["bucket"] != "incoming" || body["key"] != "uploads/day one.csv" || body["size"] != float64(len(content)) ||
		body["etag"] != info.ETag || !strings.HasPrefix(body["eventName"].(string), "s3:ObjectCreated:") || body["eventTime"] == "" {
		t.Fatalf("the flow's input: %s, want bucket incoming, key uploads/day one.csv, size %d, etag %s", res.body, len(content), info.ETag)
	}

	again, token := seen.created()
	if again == nil {
		t.Fatal("MinIO's notification was not seen")
	}
	if r := s.postNotification(t, again, token); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(ids[0])) {
		t.Fatalf("the same notification again: %d %s, want 200 naming %s", r.status, r.body, ids[0])
	}
	// A repeat the queue no longer recognises (one delivered after its
	// duplicate window) reaches the flow, which refuses a request id in use.
	late := s.do(t, http.MethodPost, "/async-function/eventful", res.body,
		map[string]string{"X-Faas-Flow-Reqid": ids[0], "X-Call-Id": "a-late-repeat", "Content-Type": "application/json"})
	if late.status != http.StatusAccepted {
		t.Fatalf("a late repeat: %d %s", late.status, late.body)
	}
	// Another object's notification, which would start a second request.
	other := bytes.ReplaceAll(again, []byte("day+one"), []byte("day+two"))
	if bytes.Equal(other, again) {
		t.Fatalf("the notification does not name the object as expected: %s", again)
	}
	if r := s.postNotification(t, other, "Bearer wrong-"+s.S3WebhookToken()); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d %s, want 401", r.status, r.body)
	}
	if r := s.postNotification(t, other, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s, want 401", r.status, r.body)
	}
	unbound := bytes.ReplaceAll(other, []byte(`"name":"incoming"`), []byte(`"name":"elsewhere"`))
	if r := s.postNotification(t, unbound, token); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"started":[],"ignored":1`)) {
		t.Fatalf("an object of a bucket no flow is bound to: %d %s, want 200, ignored", r.status, r.body)
	}
	if r := s.postNotification(t, []byte(`{"Records":[{"s3":{}}]}`), token); r.status != http.StatusBadRequest {
		t.Fatalf("not a notification: %d %s, want 400", r.status, r.body)
	}
	time.Sleep(3 * time.Second) // time for a second start to show
	if got := s.requestsOf(t, "eventful"); len(got) != 1 {
		t.Fatalf("requests after the notification was delivered again: %v, want only %s", got, ids[0])
	}
}

// postNotification posts a bucket notification to the gateway with the
// Authorization header auth.
func (s *stack) postNotification(t *testing.T, body []byte, auth string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+gateway.S3EventsPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}
