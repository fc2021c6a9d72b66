package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestNATSJetStreamPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n, err := StartNATS(NATSOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("embedded NATS did not start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := n.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	n.Close()

	n2, err := StartNATS(NATSOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer n2.Close()
	nc2, err := n2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	s, err := js2.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("message after restart = %v, %v", m, err)
	}
}

func TestEtcdServesAndKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatalf("embedded etcd did not start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	url1 := e.ClientURL()
	e.Close()

	e2, err := StartEtcd(EtcdOptions{Dir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e2.Close()
	if e2.ClientURL() != url1 {
		t.Errorf("client URL changed across restart: %s -> %s", url1, e2.ClientURL())
	}
	c2, err := clientv3.New(clientv3.Config{Endpoints: []string{e2.ClientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r, err := c2.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get after restart = %v, %v", r, err)
	}
}
