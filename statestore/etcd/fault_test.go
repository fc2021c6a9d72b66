package etcd_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// callTimeout is the RequestTimeout of stores in the fault tests.
const callTimeout = time.Second

// slack covers scheduling and -race overhead on a loaded machine.
const slack = 2 * time.Second

// storeWithKey starts etcd and a store on it with f/r/k = "before" at
// version ver.
func storeWithKey(t *testing.T) (srv *testenv.EtcdServer, s *etcd.Store, ver int64) {
	t.Helper()
	srv = testenv.StartEtcd(t, testenv.EtcdConfig{})
	s = newStore(t, etcd.Options{Endpoints: srv.Endpoints(), RequestTimeout: callTimeout})
	ctx := context.Background()
	if _, ok, err := s.Create(ctx, "f/r/k", []byte("before"), 0); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	_, ver, err := s.Get(ctx, "f/r/k")
	if err != nil {
		t.Fatal(err)
	}
	return srv, s, ver
}

func TestCallsFailFastWhenEtcdStopsAndRecoverAfterRestart(t *testing.T) {
	srv, s, ver := storeWithKey(t)
	ctx := context.Background()

	srv.Stop()
	calls := map[string]func() error{
		"Get":             func() error { _, _, err := s.Get(ctx, "f/r/k"); return err },
		"Create":          func() error { _, _, err := s.Create(ctx, "f/r/new", []byte("v"), 0); return err },
		"Create with ttl": func() error { _, _, err := s.Create(ctx, "f/r/new", []byte("v"), time.Minute); return err },
		"CompareAndSwap":  func() error { _, _, err := s.CompareAndSwap(ctx, "f/r/k", ver, []byte("during"), 0); return err },
		"Delete":          func() error { return s.Delete(ctx, "f/r/k") },
		"List":            func() error { _, err := s.List(ctx, "f/"); return err },
		"DeletePrefix":    func() error { return s.DeletePrefix(ctx, "f/") },
		"Txn with writes": func() error {
			_, err := s.Txn(ctx, sdk.TxnSwap("f/r/k", ver, []byte("during"), time.Minute), sdk.TxnGet("f/r"), sdk.TxnCreate("f/r/c", nil, time.Minute))
			return err
		},
		"Txn of reads": func() error { _, err := s.Txn(ctx, sdk.TxnGet("f/r"), sdk.TxnCount("f/")); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if err == nil {
			t.Fatalf("%s succeeded with etcd stopped", name)
		}
		t.Logf("%s after %v: %v", name, took.Round(time.Millisecond), err)
		if !errors.Is(err, sdk.ErrStoreUnavailable) {
			t.Errorf("%s error %v does not wrap sdk.ErrStoreUnavailable", name, err)
		}
		if !strings.Contains(err.Error(), srv.Addr()) {
			t.Errorf("%s error %q does not name the endpoint %s", name, err, srv.Addr())
		}
		if took > callTimeout+slack {
			t.Errorf("%s took %v with etcd stopped; RequestTimeout is %v", name, took, callTimeout)
		}
	}

	restarted := time.Now()
	srv.Restart()
	// The same Store reconnects on its own.
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, _, err := s.Get(ctx, "f/r/k")
		if err == nil {
			if string(v) != "before" {
				t.Fatalf("after restart Get = %q; nothing written while etcd was down may appear", v)
			}
			t.Logf("store answered again %v after Restart began", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover within 15s of the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, err := s.Get(ctx, "f/r/new"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get(f/r/new) after restart = %v; the Create during the outage must not have happened", err)
	}
	if _, ok, err := s.CompareAndSwap(ctx, "f/r/k", ver, []byte("after"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap after restart = %v, %v; want true", ok, err)
	}
	if _, ok, err := s.Create(ctx, "f/r/new", []byte("v"), time.Minute); err != nil || !ok {
		t.Fatalf("Create with ttl after restart = %v, %v; want true", ok, err)
	}
}

// TestCASIsAllOrNothingAcrossAnOutage increments a counter from several
// goroutines while etcd is stopped and restarted. Every swap reported as done
// must be in the counter, swaps reported as failed must not be, and only
// calls whose outcome was reported unknown may go either way.
func TestCASIsAllOrNothingAcrossAnOutage(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	s := newStore(t, etcd.Options{Endpoints: srv.Endpoints(), RequestTimeout: callTimeout})
	ctx := context.Background()
	if _, ok, err := s.Create(ctx, "f/r/counter", []byte("0"), 0); err != nil || !ok {
		t.Fatalf("Create = %v, %v", ok, err)
	}
	var (
		mu        sync.Mutex
		done      int // swaps reported true
		uncertain int // swaps that returned an error
		wg        sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, ver, err := s.Get(ctx, "f/r/counter")
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				n, err := strconv.Atoi(string(v))
				if err != nil {
					t.Errorf("counter holds %q: a torn write", v)
					return
				}
				_, ok, err := s.CompareAndSwap(ctx, "f/r/counter", ver, []byte(strconv.Itoa(n+1)), 0)
				mu.Lock()
				switch {
				case err != nil:
					if !errors.Is(err, sdk.ErrStoreUnavailable) {
						t.Errorf("CompareAndSwap during outage: %v (not ErrStoreUnavailable)", err)
					}
					uncertain++
				case ok:
					done++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	srv.Stop()
	time.Sleep(1500 * time.Millisecond)
	srv.Restart()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	v, _, err := s.Get(ctx, "f/r/counter")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		t.Fatalf("counter holds %q", v)
	}
	mu.Lock()
	defer mu.Unlock()
	if n < done || n > done+uncertain {
		t.Fatalf("counter = %d, but %d swaps succeeded and %d had unknown outcome", n, done, uncertain)
	}
	if done == 0 {
		t.Fatalf("no swap succeeded; the test proved nothing")
	}
	t.Logf("counter %d: %d confirmed swaps, %d with unknown outcome", n, done, uncertain)
}

func TestNewFailsFastWhenNothingListens(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	srv.Stop()
	start := time.Now()
	_, err := etcd.New(context.Background(), etcd.Options{Endpoints: srv.Endpoints(), DialTimeout: time.Second})
	took := time.Since(start)
	if err == nil {
		t.Fatal("New succeeded with nothing listening")
	}
	if !errors.Is(err, sdk.ErrStoreUnavailable) || !strings.Contains(err.Error(), "nothing listening") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("New error = %v; want ErrStoreUnavailable naming %s and saying nothing listens", err, srv.Addr())
	}
	if took > time.Second+slack {
		t.Fatalf("New took %v; DialTimeout is 1s", took)
	}
}

func TestNewWithCredentials(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.EtcdConfig{RootPassword: "s3cret-pw"})
	cases := []struct {
		name      string
		user, pw  string
		wantErr   string // empty: New must succeed
		wantAuthE bool
	}{
		{"right password works", "root", "s3cret-pw", "", false},
		{"wrong password is one clear error", "root", "wrong", "authentication failed for user \"root\"", true},
		{"unknown user is one clear error", "nobody", "x", "authentication failed", true},
		{"missing credentials say auth is required", "", "", "requires authentication", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			s, err := etcd.New(context.Background(), etcd.Options{
				Endpoints: srv.Endpoints(), Username: c.user, Password: c.pw, DialTimeout: 2 * time.Second,
			})
			took := time.Since(start)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				defer s.Close()
				ctx := context.Background()
				if _, ok, err := s.Create(ctx, "f/r/k", []byte("v"), time.Minute); err != nil || !ok {
					t.Fatalf("Create with auth = %v, %v", ok, err)
				}
				if v, _, err := s.Get(ctx, "f/r/k"); err != nil || string(v) != "v" {
					t.Fatalf("Get with auth = %q, %v", v, err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), c.wantErr) || errors.Is(err, etcd.ErrAuth) != c.wantAuthE {
				t.Fatalf("New error = %v; want it to contain %q and wrap etcd.ErrAuth", err, c.wantErr)
			}
			if errors.Is(err, sdk.ErrStoreUnavailable) {
				t.Fatalf("bad credentials reported as unavailability: %v", err)
			}
			if took > 2*time.Second+slack {
				t.Fatalf("New took %v to reject credentials", took)
			}
		})
	}
}

func TestNewWithTLS(t *testing.T) {
	tlsSrv := testenv.StartEtcd(t, testenv.EtcdConfig{TLS: true})
	plainSrv := testenv.StartEtcd(t, testenv.EtcdConfig{})
	files := &etcd.TLSFiles{CAFile: tlsSrv.CAFile, CertFile: tlsSrv.ClientCertFile, KeyFile: tlsSrv.ClientKeyFile}

	t.Run("client certificate and CA work", func(t *testing.T) {
		s := newStore(t, etcd.Options{Endpoints: []string{tlsSrv.Addr()}, TLS: files})
		ctx := context.Background()
		if _, ok, err := s.Create(ctx, "f/r/k", []byte("v"), 0); err != nil || !ok {
			t.Fatalf("Create over TLS = %v, %v", ok, err)
		}
	})
	t.Run("tls.Config works", func(t *testing.T) {
		s := newStore(t, etcd.Options{Endpoints: tlsSrv.Endpoints(), TLSConfig: tlsSrv.ClientTLS()})
		if _, _, err := s.Get(context.Background(), "f/r/k"); err != nil {
			t.Fatalf("Get over TLS: %v", err)
		}
	})
	mismatches := []struct {
		name string
		opts etcd.Options
		want string
	}{
		{"plain client to TLS server", etcd.Options{Endpoints: []string{"http://" + tlsSrv.Addr()}}, "speaks TLS"},
		{"TLS client to plain server", etcd.Options{Endpoints: []string{plainSrv.Addr()}, TLS: files}, "TLS handshake failed"},
		{"TLS client with no CA", etcd.Options{Endpoints: []string{"https://" + tlsSrv.Addr()}}, "TLS handshake failed"},
	}
	for _, c := range mismatches {
		t.Run(c.name+" fails fast", func(t *testing.T) {
			c.opts.DialTimeout = time.Second
			start := time.Now()
			s, err := etcd.New(context.Background(), c.opts)
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), c.want) || !errors.Is(err, sdk.ErrStoreUnavailable) {
				t.Fatalf("New error = %v; want ErrStoreUnavailable saying %q", err, c.want)
			}
			if took > time.Second+slack+time.Second {
				t.Fatalf("New took %v; DialTimeout is 1s", took)
			}
		})
	}
}

// TestWritesToAnEtcdOutOfSpaceAreUnavailable: once etcd's space alarm is
// raised it refuses every write. The store answers at once (no retries)
// with an error wrapping sdk.ErrStoreUnavailable that says what to do, and
// nothing is written; reads still work, and writes do again once an
// operator has cleared the alarm.
func TestWritesToAnEtcdOutOfSpaceAreUnavailable(t *testing.T) {
	srv, s, ver := storeWithKey(t)
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := cli.Status(ctx, srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	alarm := func(action etcdserverpb.AlarmRequest_AlarmAction) {
		t.Helper()
		if _, err := etcdserverpb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, &etcdserverpb.AlarmRequest{
			Action: action, MemberID: st.Header.MemberId, Alarm: etcdserverpb.AlarmType_NOSPACE,
		}); err != nil {
			t.Fatal(err)
		}
	}
	alarm(etcdserverpb.AlarmRequest_ACTIVATE) // what etcd does when its file outgrows its quota

	writes := map[string]func() error{
		"Create":         func() error { _, _, err := s.Create(ctx, "f/r/new", []byte("v"), time.Minute); return err },
		"CompareAndSwap": func() error { _, _, err := s.CompareAndSwap(ctx, "f/r/k", ver, []byte("during"), 0); return err },
		"Txn": func() error {
			_, err := s.Txn(ctx, sdk.TxnSwap("f/r/k", ver, []byte("during"), 0), sdk.TxnCreate("f/r/c", nil, 0))
			return err
		},
	}
	for name, write := range writes {
		start := time.Now()
		err := write()
		if !errors.Is(err, sdk.ErrStoreUnavailable) || !strings.Contains(err.Error(), "out of space") {
			t.Errorf("%s with etcd out of space: %v; want ErrStoreUnavailable saying it is out of space", name, err)
		}
		if took := time.Since(start); took > callTimeout/2 {
			t.Errorf("%s took %v: retried although retrying cannot help", name, took)
		}
	}
	if v, ver2, err := s.Get(ctx, "f/r/k"); err != nil || string(v) != "before" || ver2 != ver {
		t.Fatalf("read while out of space: %q (version %d), %v; want the value before", v, ver2, err)
	}
	if _, _, err := s.Get(ctx, "f/r/new"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("a refused Create left a key: %v", err)
	}

	alarm(etcdserverpb.AlarmRequest_DEACTIVATE)
	if _, ok, err := s.CompareAndSwap(ctx, "f/r/k", ver, []byte("after"), 0); err != nil || !ok {
		t.Fatalf("CompareAndSwap after the alarm was cleared: %v, %v", ok, err)
	}
}
