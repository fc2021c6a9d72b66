package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdKeys counts the keys under prefix in l's etcd, read as the flows'
// user; it fails the test when that user cannot log in.
func etcdKeys(t *testing.T, l *Local, prefix string) int64 {
	t.Helper()
	user, _ := ReadSecretFile(filepath.Join(l.SecretsDir(), etcdUserSecret))
	password, _ := ReadSecretFile(filepath.Join(l.SecretsDir(), etcdPasswordSecret))
	cli, err := clientv3.New(clientv3.Config{Endpoints: l.EtcdEndpoints(), Username: user, Password: password,
		DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("the flows' etcd user cannot log in: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("read as the flows' etcd user: %v", err)
	}
	return resp.Count
}

// etcdPut writes the key forged in l's etcd as user ("": none).
func etcdPut(l *Local, user, password string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: l.EtcdEndpoints(), Username: user, Password: password,
		DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "forged", "x")
	return err
}

func TestLocalStackKeepsItsEtcdAndNATSBehindGeneratedLogins(t *testing.T) {
	l := startLocal(t, fastOptions(t.TempDir()))
	for _, name := range []string{etcdUserSecret, etcdPasswordSecret, natsUserSecret, natsPasswordSecret} {
		fi, err := os.Stat(filepath.Join(l.SecretsDir(), name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("secret %s: %v, mode %v; want a file of mode 0600", name, err, fi)
		}
	}
	for _, login := range []struct{ user, password string }{{"", ""}, {flowEtcdUser, "guess"}} {
		if err := etcdPut(l, login.user, login.password); err == nil {
			t.Errorf("etcd accepted a put as %q with password %q", login.user, login.password)
		}
	}
	if n := etcdKeys(t, l, "forged"); n != 0 {
		t.Fatalf("a put without the generated login wrote %d keys", n)
	}
	if nc, err := nats.Connect(l.NATSURL(), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Fatal("NATS accepted a connection without a login")
	}
}

func TestAsyncCallbackToTheStacksEtcdIsRefusedAndTheCallStillRuns(t *testing.T) {
	logs := &testenv.Buffer{}
	o := fastOptions(t.TempDir())
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	l := startLocal(t, o)
	// The function answers with a body etcd's HTTP put takes (on an etcd
	// that serves its HTTP gateway), as a forged callback would send.
	deploy(t, l, fnDef{name: "cb-guard", env: map[string]string{"put": `{"key":"Zm9yZ2Vk","value":"eA=="}`}})

	forged := map[string]string{"X-Callback-Url": l.EtcdEndpoints()[0] + "/v3/kv/put"}
	if r := do(t, "POST", l.URL()+"/async-function/cb-guard/env?k=put", "", forged); r.code != http.StatusAccepted {
		t.Fatalf("async with a callback at etcd = %d %q", r.code, r.body)
	}
	// An ordinary callback, queued after it, still arrives.
	cb, ch := callbackServer(t)
	if r := do(t, "POST", l.URL()+"/async-function/cb-guard/p", "x", map[string]string{"X-Callback-Url": cb}); r.code != http.StatusAccepted {
		t.Fatalf("async with an ordinary callback = %d", r.code)
	}
	if c := waitCallback(t, ch, 30*time.Second); c.body != "POST /p? x" {
		t.Fatalf("ordinary callback body %q", c.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "callback refused") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "callback refused") {
		t.Fatalf("the refused callback was not logged; logs:\n%s", logs)
	}
	// Both calls ran and were acknowledged: the refusal lost no call. The
	// counters move just after the callback has been answered.
	for _, want := range []string{`faasflow_queue_callbacks_total{outcome="refused"} 1`, `faasflow_queue_callbacks_total{outcome="ok"} 1`,
		`faasflow_queue_processed_total{function_name="cb-guard",outcome="ack"} 2`} {
		m := do(t, "GET", l.URL()+"/metrics", "", nil).body
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(m, want) && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			m = do(t, "GET", l.URL()+"/metrics", "", nil).body
		}
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := etcdKeys(t, l, "forged"); n != 0 {
		t.Fatalf("the callback wrote %d keys into etcd", n)
	}
}
