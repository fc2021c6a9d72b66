package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faas-flow/faas-flow/examples/demo"
	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/runtime"
)

const bucket = "faasflow-e2e"

type stack struct {
	*gateway.Local
	minio *minio.Client
	hc    *http.Client
}

// startStack starts the local gateway on real NATS JetStream (embedded
// server), etcd (embedded server) and MinIO (the real binary), and deploys
// the given stack files.
func startStack(t *testing.T, stackFiles ...string) *stack {
	t.Helper()
	return startStackWith(t, nil, stackFiles...)
}

// startStackWith is startStack with the gateway's options adjusted by tune.
func startStackWith(t *testing.T, tune func(*gateway.LocalOptions), stackFiles ...string) *stack {
	t.Helper()
	return startStackOn(t, testenv.MinIO(t), tune, stackFiles...)
}

// startStackOn is startStackWith on the MinIO mi.
func startStackOn(t *testing.T, mi *testenv.MinIOServer, tune func(*gateway.LocalOptions), stackFiles ...string) *stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cache := filepath.Join(os.TempDir(), "faasflow-e2e-build-cache")
	o := gateway.LocalOptions{
		StateDir: t.TempDir(), S3URL: mi.Endpoint, S3Bucket: bucket,
		S3AccessKey: mi.AccessKey, S3SecretKey: mi.SecretKey, BuildCacheDir: cache,
		InitialRetryWait: 200 * time.Millisecond, MaxRetryWait: 2 * time.Second,
	}
	if tune != nil {
		tune(&o)
	}
	l, err := gateway.StartLocal(ctx, o)
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	for _, f := range stackFiles {
		var log bytes.Buffer
		if err := l.Deploy(ctx, f, &log); err != nil {
			t.Fatalf("deploy %s: %v\n%s", f, err, log.String())
		}
	}
	mc, err := minio.New(mi.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mi.AccessKey, mi.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{Local: l, minio: mc, hc: &http.Client{Timeout: time.Minute}}
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// do calls the stack's gateway with its login.
func (s *stack) do(t *testing.T, method, path string, body []byte, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// The gateway's login: /system/* and the flows' control routes want
	// it (a header given wins, a test may send none or a wrong one).
	if user, pass := s.Credentials(); user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// waitState polls the state route until the request reaches want.
func (s *stack) waitState(t *testing.T, flow, id, want string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last reply
	for time.Now().Before(deadline) {
		last = s.do(t, http.MethodGet, "/function/"+flow+"/flow/"+id+"/state", nil, nil)
		if last.status == http.StatusOK {
			var st map[string]any
			if err := json.Unmarshal(last.body, &st); err != nil {
				t.Fatal(err)
			}
			if st["state"] == want {
				return st
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("request %s of %s did not reach %q in %s: last %d %s", id, flow, want, timeout, last.status, last.body)
	return nil
}

// workObjects lists the objects of running requests left in the bucket.
func (s *stack) workObjects(t *testing.T) []string {
	t.Helper()
	var keys []string
	for o := range s.minio.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !strings.Contains(o.Key, "/result") {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

func TestExamplesEndToEnd(t *testing.T) {
	s := startStack(t, repoFile(t, "stack.yml"))

	t.Run("every example gives its result through ?wait", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := demo.Run(context.Background(), s.URL(), &out); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	})

	t.Run("a sync flow answers in the first call", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/function/greet", []byte("Eve"), nil)
		if r.status != http.StatusOK || string(r.body) != "Hello, Eve! (via faas-flow)" || r.header.Get("X-Faas-Flow-Reqid") == "" {
			t.Fatalf("%d %q %v", r.status, r.body, r.header)
		}
	})

	t.Run("an async request is followed by state polling", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/function/async-chain", []byte("poll me"), nil)
		id := r.header.Get("X-Faas-Flow-Reqid")
		if r.status != http.StatusAccepted || id == "" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		st := s.waitState(t, "async-chain", id, "succeeded", 30*time.Second)
		nodes, _ := st["nodes"].(map[string]any)
		for _, n := range []string{"shout", "mirror", "report"} {
			if ns, _ := nodes[n].(map[string]any); ns["status"] != "succeeded" {
				t.Fatalf("node %s: %v", n, nodes[n])
			}
		}
		res := s.do(t, http.MethodGet, "/function/async-chain/flow/"+id+"/result", nil, nil)
		if res.status != http.StatusOK || string(res.body) != "mirrored: EM LLOP" {
			t.Fatalf("result %d %q", res.status, res.body)
		}
	})

	t.Run("a callback receiver gets the signed result once", func(t *testing.T) {
		secret, err := os.ReadFile(filepath.Join(s.SecretsDir(), gateway.HMACSecretName))
		if err != nil {
			t.Fatal(err)
		}
		type call struct {
			id, state, sig, bodySig string
			body                    []byte
		}
		var mu sync.Mutex
		var calls []call
		got := make(chan struct{}, 4)
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			calls = append(calls, call{r.Header.Get(runtime.HeaderRequestID), r.Header.Get(runtime.HeaderState),
				r.Header.Get(runtime.HeaderSignature), r.Header.Get(runtime.HeaderBodySignature), b})
			mu.Unlock()
			got <- struct{}{}
		}))
		defer recv.Close()
		r := s.do(t, http.MethodPost, "/function/parallel", []byte("a b"), map[string]string{"X-Faas-Flow-Callback-Url": recv.URL})
		id := r.header.Get("X-Faas-Flow-Reqid")
		if r.status != http.StatusAccepted {
			t.Fatalf("%d %s", r.status, r.body)
		}
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("no callback")
		}
		time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 1 {
			t.Fatalf("%d callbacks, want 1", len(calls))
		}
		c := calls[0]
		if c.id != id || string(c.body) != `{"count":"2","reverse":"b a","upper":"A B"}` {
			t.Fatalf("callback id %s body %s; want id %s", c.id, c.body, id)
		}
		if err := runtime.VerifyCallback(bytes.TrimSpace(secret), c.sig, id, c.state, c.body, time.Now(), runtime.CallbackWindow); err != nil || c.state != "succeeded" {
			t.Fatalf("callback signature %s, state %s: %v", c.sig, c.state, err)
		}
		m := hmac.New(sha256.New, bytes.TrimSpace(secret))
		m.Write(c.body)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); c.bodySig != want {
			t.Fatalf("deprecated body signature %s, want %s", c.bodySig, want)
		}
	})

	t.Run("unknown request ids are 404, never finished", func(t *testing.T) {
		r := s.do(t, http.MethodGet, "/function/async-chain/flow/no-such-request/state", nil, nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})

	t.Run("large payloads went through MinIO and nothing is left behind", func(t *testing.T) {
		if left := s.workObjects(t); len(left) != 0 {
			t.Fatalf("objects of ended requests left in the bucket: %v", left)
		}
		var n int
		for range s.minio.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, Prefix: "r/etl/"}) {
			n++
		}
		_ = n // results above the inline limit are kept for the retention period
	})
}

var pidLine = regexp.MustCompile(`started pid (\d+)`)

// pid returns the process id of the running instance of fn, from the
// supervisor's log lines: all those the gateway keeps, since a flow logs
// every node run and the start can be far back.
func (s *stack) pid(t *testing.T, fn string) int {
	t.Helper()
	lines, err := s.Client().Logs(context.Background(), fn, 0)
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, l := range lines {
		if m := pidLine.FindStringSubmatch(l.Text); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
	}
	if pid == 0 {
		t.Fatalf("no pid in the logs of %s", fn)
	}
	return pid
}

func TestFlowProcessKilledMidNodeStillCompletesOnce(t *testing.T) {
	s := startStack(t, filepath.Join("testdata", "stack.yml"))
	var mu sync.Mutex
	callbacks := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		callbacks++
		mu.Unlock()
	}))
	defer recv.Close()
	r := s.do(t, http.MethodPost, "/function/slow", []byte(">"), map[string]string{"X-Faas-Flow-Callback-Url": recv.URL})
	id := r.header.Get("X-Faas-Flow-Reqid")
	if r.status != http.StatusAccepted {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Wait until b runs, then kill the flow's process under it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.do(t, http.MethodGet, "/function/slow/flow/"+id+"/state", nil, nil)
		var m struct {
			Nodes map[string]struct{ Status string } `json:"nodes"`
		}
		_ = json.Unmarshal(st.body, &m)
		if m.Nodes["b"].Status == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never ran: %s", st.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := s.pid(t, "slow")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := s.waitState(t, "slow", id, "succeeded", 90*time.Second)
	res := s.do(t, http.MethodGet, "/function/slow/flow/"+id+"/result", nil, nil)
	if string(res.body) != ">abc" {
		t.Fatalf("result %q", res.body)
	}
	if newPid := s.pid(t, "slow"); newPid == pid {
		t.Fatal("the process was not restarted")
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if callbacks != 1 {
		t.Fatalf("%d completion callbacks, want exactly 1 (state %v)", callbacks, st)
	}
	if left := s.workObjects(t); len(left) != 0 {
		t.Fatalf("objects left: %v", left)
	}
	fmt.Fprintf(io.Discard, "%v", st)
}
