package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// EtcdOptions configure StartEtcd.
type EtcdOptions struct {
	// Dir holds etcd's data (required). The chosen ports are remembered in
	// Dir/ports.json and reused on restart when free.
	Dir string
	// ClientPort (0: remembered or free).
	ClientPort int
	// Sync keeps etcd's fsync calls. By default they are disabled
	// (UnsafeNoFsync): a local dev server is faster that way and loses at
	// most the last writes if the machine (not the process) crashes.
	Sync bool
}

// Etcd is a running single-node embedded etcd.
type Etcd struct {
	e         *embed.Etcd
	clientURL string
}

type etcdPorts struct {
	Client int `json:"client"`
	Peer   int `json:"peer"`
}

// StartEtcd starts etcd and waits until it serves.
func StartEtcd(o EtcdOptions) (*Etcd, error) {
	if o.Dir == "" {
		return nil, errors.New("embedded etcd: Dir is required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	ports := etcdPorts{}
	portsFile := filepath.Join(o.Dir, "ports.json")
	if b, err := os.ReadFile(portsFile); err == nil {
		_ = json.Unmarshal(b, &ports)
	}
	if o.ClientPort != 0 {
		ports.Client = o.ClientPort
	}
	var err error
	if ports.Client == 0 || !portFree(ports.Client) {
		if ports.Client, err = pickPort(); err != nil {
			return nil, err
		}
	}
	if ports.Peer == 0 || !portFree(ports.Peer) {
		if ports.Peer, err = pickPort(); err != nil {
			return nil, err
		}
	}
	if b, err := json.Marshal(ports); err == nil {
		_ = os.WriteFile(portsFile, b, 0o600)
	}
	cfg := embed.NewConfig()
	cfg.Name = "faasflow"
	cfg.Dir = filepath.Join(o.Dir, "data")
	cu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports.Client)}
	pu := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports.Peer)}
	cfg.ListenClientUrls = []url.URL{cu}
	cfg.AdvertiseClientUrls = []url.URL{cu}
	cfg.ListenPeerUrls = []url.URL{pu}
	cfg.AdvertisePeerUrls = []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = !o.Sync
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(o.Dir, "etcd.log")}
	cfg.EnableGRPCGateway = false
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: start (data %s): %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(30 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("embedded etcd: not ready after 30s")
	}
	return &Etcd{e: e, clientURL: cu.String()}, nil
}

// ClientURL is the etcd client endpoint, e.g. http://127.0.0.1:2379.
func (e *Etcd) ClientURL() string { return e.clientURL }

// Close stops etcd.
func (e *Etcd) Close() { e.e.Close() }

func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("embedded etcd: pick port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
