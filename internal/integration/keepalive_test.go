package integration

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/faas-flow/faas-flow/gateway/embedded"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// TestTheEtcdStoresKeepaliveIsWithinTheEmbeddedEtcdsPolicy proves the
// relation the live test below proves the slow way: the state store's
// client pings no more often than the embedded etcd allows, and never on
// an idle connection, which etcd's policy does not permit.
func TestTheEtcdStoresKeepaliveIsWithinTheEmbeddedEtcdsPolicy(t *testing.T) {
	if etcd.KeepAliveTime < embedded.EtcdKeepAliveMinTime {
		t.Errorf("the store pings every %v, the embedded etcd wants at least %v between pings", etcd.KeepAliveTime, embedded.EtcdKeepAliveMinTime)
	}
	if etcd.KeepAliveWithoutStream {
		t.Error("the store pings idle connections: etcd counts each such ping as a strike and drops the connection with too_many_pings")
	}
}

// TestTheEmbeddedEtcdKeepsAClientWithTheStoresKeepaliveConnected holds a
// connection with the state store's keepalive settings to the embedded
// etcd, idle and with a watch open, for longer than it takes etcd to drop
// a client that breaks its ping policy (three strikes of pings at gRPC's
// smallest client interval, 10s: about 40s). It takes about 45s.
func TestTheEmbeddedEtcdKeepsAClientWithTheStoresKeepaliveConnected(t *testing.T) {
	srv, err := embedded.StartEtcd(embedded.EtcdOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	const hold = 45 * time.Second
	for _, tt := range []struct {
		name  string
		watch bool
	}{{"idle", false}, {"with a watch open", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cli, err := clientv3.New(clientv3.Config{
				Endpoints: []string{srv.ClientURL()}, DialTimeout: 5 * time.Second,
				DialKeepAliveTime: etcd.KeepAliveTime, DialKeepAliveTimeout: etcd.KeepAliveTimeout,
				PermitWithoutStream: etcd.KeepAliveWithoutStream,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(t.Context(), hold)
			defer cancel()
			if _, err := cli.Get(ctx, "probe"); err != nil {
				t.Fatal(err)
			}
			if tt.watch {
				_ = cli.Watch(clientv3.WithRequireLeader(ctx), "watched")
			}
			conn := cli.ActiveConnection()
			if s := conn.GetState(); s != connectivity.Ready {
				t.Fatalf("connection %v after a call, want READY", s)
			}
			if conn.WaitForStateChange(ctx, connectivity.Ready) {
				t.Fatalf("the connection left READY (now %v) after %v: etcd dropped it (GOAWAY too_many_pings)", conn.GetState(), hold-time.Until(deadline(ctx)))
			}
		})
	}
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
