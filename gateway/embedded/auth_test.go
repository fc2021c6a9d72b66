package embedded

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// tryPut connects to e as user (none when "") and writes a key, returning
// the error of either step.
func tryPut(t *testing.T, e *Etcd, user, password string) error {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{e.ClientURL()}, Username: user, Password: password,
		DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "faasflow/probe", "x")
	return err
}

func TestEtcdWithARootPasswordAcceptsOnlyItsUsers(t *testing.T) {
	dir := t.TempDir()
	// The data directory starts without authentication, as one an earlier
	// version left: the next start turns it on.
	e, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := tryPut(t, e, "", ""); err != nil {
		t.Fatalf("without authentication a client could not write: %v", err)
	}
	e.Close()

	opts := EtcdOptions{Dir: dir, RootPassword: "root-secret", Users: []EtcdUser{{Name: "flow", Password: "flow-secret"}}}
	e, err = StartEtcd(opts)
	if err != nil {
		t.Fatalf("turning authentication on in an existing data directory: %v", err)
	}
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"no user is refused", "", "", false},
		{"a wrong password is refused", "flow", "guess", false},
		{"an unknown user is refused", "someone", "flow-secret", false},
		{"the generated user may write", "flow", "flow-secret", true},
		{"root may write", EtcdRootUser, "root-secret", true},
	}
	check := func(e *Etcd) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tryPut(t, e, tt.user, tt.password); (err == nil) != tt.ok {
					t.Fatalf("put as %q = %v, want success %v", tt.user, err, tt.ok)
				}
			})
		}
	}
	check(e)
	e.Close()

	// A restart with the same credentials keeps them (the user's password
	// is set again, the data stays).
	e, err = StartEtcd(opts)
	if err != nil {
		t.Fatalf("restart with authentication on: %v", err)
	}
	check(e)
	e.Close()

	opts.RootPassword = "another"
	if e, err = StartEtcd(opts); !errors.Is(err, ErrEtcdAuth) {
		if e != nil {
			e.Close()
		}
		t.Fatalf("start with another root password = %v, want ErrEtcdAuth", err)
	}
}

func TestNATSWithAPasswordRefusesAnonymousConnections(t *testing.T) {
	n, err := StartNATS(NATSOptions{StoreDir: t.TempDir(), Password: "nats-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tests := []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"no user is refused", nil, false},
		{"a wrong password is refused", []nats.Option{nats.UserInfo(NATSDefaultUser, "guess")}, false},
		{"the generated user connects", []nats.Option{nats.UserInfo(NATSDefaultUser, "nats-secret")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(n.URL(), append(tt.opts, nats.Timeout(5*time.Second))...)
			if err == nil {
				nc.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("connect = %v, want success %v", err, tt.ok)
			}
		})
	}
	// The gateway's in-process connection logs in by itself and may use
	// JetStream.
	nc, err := n.Connect()
	if err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream as the generated user: %v", err)
	}
}

func TestAnAdminUserHoldsTheRootRoleUntilAStartWithoutAdmin(t *testing.T) {
	dir := t.TempDir()
	roles := func(e *Etcd) []string {
		t.Helper()
		cli, err := e.rootClient()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u, err := cli.UserGet(ctx, "flow")
		if err != nil {
			t.Fatal(err)
		}
		return u.Roles
	}
	for _, tt := range []struct {
		name     string
		admin    bool
		wantRoot bool
	}{
		{"granted on a start with Admin", true, true},
		{"revoked on a start without it", false, false},
		{"granted again", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := StartEtcd(EtcdOptions{Dir: dir, RootPassword: "root-secret",
				Users: []EtcdUser{{Name: "flow", Password: "flow-secret", Admin: tt.admin}}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			got := roles(e)
			if slices.Contains(got, EtcdRootUser) != tt.wantRoot || !slices.Contains(got, "flow") {
				t.Fatalf("roles of the user = %v, want its own and root: %v", got, tt.wantRoot)
			}
		})
	}
}
