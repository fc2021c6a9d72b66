package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"google.golang.org/grpc"
)

// EtcdOptions configure StartEtcd.
type EtcdOptions struct {
	// Dir holds etcd's data (required). The chosen ports are remembered in
	// Dir/ports.json and reused on restart when free.
	Dir string
	// ClientPort is the port etcd serves clients on; starting fails when it
	// is taken (0: the last run's while free, another free one otherwise).
	ClientPort int
	// Sync keeps etcd's fsync calls. By default they are disabled
	// (UnsafeNoFsync): a local dev server is faster that way and loses at
	// most the last writes if the machine (not the process) crashes.
	Sync bool
	// HistoryRetention is how long etcd keeps the old revisions of keys
	// before compacting them away (0: DefaultHistoryRetention). Flows only
	// read current values, so a short history keeps the database and the
	// process's memory from growing with every request ever run.
	HistoryRetention time.Duration
	// Logger receives maintenance events: the history left by an earlier
	// run compacted, the database file defragmented (nil: discarded).
	Logger *slog.Logger
	// RootPassword turns etcd's authentication on: the user root gets this
	// password and every client must log in. The data directory keeps it:
	// a later start must give the same one ("" leaves authentication off,
	// which works only for a data directory that never had it on).
	RootPassword string
	// Users are created, or updated, at every start, each with a role of
	// its own name limited to its key prefix (they need RootPassword).
	Users []EtcdUser

	// defragMinBytes is the smallest database file start-up maintenance
	// defragments (0: defragMinBytes); tests lower it.
	defragMinBytes int64
}

// DefaultHistoryRetention is EtcdOptions.HistoryRetention's default.
const DefaultHistoryRetention = time.Minute

// defragMinBytes: a database file smaller than this is not worth
// defragmenting at start-up, however much of it is free.
const defragMinBytes = 64 << 20

// EtcdKeepAliveMinTime is the shortest time between two pings of a client
// the embedded etcd accepts (its keepalive enforcement policy, which
// never permits pings on a connection without streams). The flows' etcd
// store pings every 10s while a stream is open and never while idle: a
// client that pings more often, or on an idle connection, earns strikes
// and is dropped with GOAWAY too_many_pings.
const EtcdKeepAliveMinTime = 5 * time.Second

// Etcd is a running single-node embedded etcd.
type Etcd struct {
	e            *embed.Etcd
	clientURL    string
	peerURL      string
	rootPassword string
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
	e, cfg, err := startEmbed(o)
	if err != nil {
		return nil, err
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
	et := &Etcd{e: e, clientURL: cfg.AdvertiseClientUrls[0].String(), peerURL: cfg.AdvertisePeerUrls[0].String(), rootPassword: o.RootPassword}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := et.setupAuth(ctx, o); err != nil {
		et.Close()
		return nil, fmt.Errorf("embedded etcd: authentication (data %s): %w", cfg.Dir, err)
	}
	if err := et.maintain(ctx, o); err != nil {
		et.Close()
		return nil, fmt.Errorf("embedded etcd: start-up maintenance (data %s): %w", cfg.Dir, err)
	}
	return et, nil
}

// etcdStreamWorkers is how many goroutines serve etcd's calls; calls beyond
// them, all waiting on the raft log, get a goroutine of their own.
const etcdStreamWorkers = 128

// startEmbed starts the etcd server on the ports choosePorts gives. A port
// found free can be taken by another process before etcd binds it; etcd
// then starts again on newly picked ones, a few times.
func startEmbed(o EtcdOptions) (*embed.Etcd, *embed.Config, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		ports, err := choosePorts(o.Dir, o.ClientPort, attempt > 1)
		if err != nil {
			return nil, nil, err
		}
		cfg := etcdConfig(o, ports)
		e, err := embed.StartEtcd(cfg)
		if err == nil {
			return e, cfg, nil
		}
		if attempt == attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("embedded etcd: start (data %s): %w", cfg.Dir, err)
		}
	}
}

// etcdConfig is the configuration of a single-node etcd on ports.
func etcdConfig(o EtcdOptions, ports etcdPorts) *embed.Config {
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
	cfg.BcryptCost = etcdBcryptCost
	retention := o.HistoryRetention
	if retention <= 0 {
		retention = DefaultHistoryRetention
	}
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = retention.String()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(o.Dir, "etcd.log")}
	cfg.EnableGRPCGateway = false
	cfg.GRPCKeepAliveMinTime = EtcdKeepAliveMinTime // the clients' ping policy, stated
	// Each call is served on a goroutine of a standing pool rather than a
	// new one: a new goroutine starts with a small stack and grows it,
	// copying, on every call (about 5% of the gateway's CPU under load).
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.NumStreamWorkers(etcdStreamWorkers)}
	return cfg
}

// choosePorts returns the ports of the etcd kept in dir: those of the last
// run (dir/ports.json) while they are free and fresh is false, clientPort
// when set, free ones otherwise; the choice is written back for the next
// run.
func choosePorts(dir string, clientPort int, fresh bool) (etcdPorts, error) {
	ports := etcdPorts{}
	portsFile := filepath.Join(dir, "ports.json")
	if b, err := os.ReadFile(portsFile); err == nil && !fresh {
		_ = json.Unmarshal(b, &ports)
	}
	switch {
	case clientPort != 0:
		ports.Client = clientPort
	case ports.Client != 0 && !portFree(ports.Client):
		ports.Client = 0
	}
	if ports.Peer == 0 || ports.Peer == ports.Client || !portFree(ports.Peer) {
		ports.Peer = 0
	}
	if err := pickPorts(&ports.Client, &ports.Peer); err != nil {
		return ports, err
	}
	if b, err := json.Marshal(ports); err == nil {
		_ = os.WriteFile(portsFile, b, 0o600)
	}
	return ports, nil
}

// maintain reclaims what an earlier run left behind: it compacts the whole
// history, defragments the database file when most of it is free space, and
// clears a space-quota alarm (raised when the file outgrew etcd's quota,
// after which etcd refuses every write). Data directories written before
// history was compacted automatically grow without bound; this makes them
// usable again.
func (e *Etcd) maintain(ctx context.Context, o EtcdOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minBytes := o.defragMinBytes
	if minBytes <= 0 {
		minBytes = defragMinBytes
	}
	cli, err := e.rootClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	st, err := cli.Status(ctx, e.clientURL)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		return fmt.Errorf("list alarms: %w", err)
	}
	var noSpace []*etcdserverpb.AlarmMember
	for _, a := range alarms.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			noSpace = append(noSpace, a)
		}
	}
	if rev := st.Header.Revision; rev > 1 {
		// Compacting drops the old revisions from etcd's index at once and
		// deletes them from the file in the background. Only a full
		// database waits for that, so that defragmenting frees space.
		var opts []clientv3.CompactOption
		if len(noSpace) > 0 {
			log.Info("embedded etcd: out of space; compacting its history (may take minutes)", "revision", rev)
			opts = append(opts, clientv3.WithCompactPhysical())
		}
		start := time.Now()
		_, err := cli.Compact(ctx, rev, opts...)
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			// Nothing older than rev is left.
		case err != nil:
			return fmt.Errorf("compact history: %w", err)
		default:
			log.Debug("embedded etcd: compacted the history", "revision", rev, "took", time.Since(start))
		}
		if st, err = cli.Status(ctx, e.clientURL); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	}
	if len(noSpace) > 0 || (st.DbSize >= minBytes && st.DbSizeInUse < st.DbSize/2) {
		log.Info("embedded etcd: defragmenting its database", "size_mb", st.DbSize>>20, "in_use_mb", st.DbSizeInUse>>20)
		start := time.Now()
		if _, err := cli.Defragment(ctx, e.clientURL); err != nil {
			return fmt.Errorf("defragment: %w", err)
		}
		log.Info("embedded etcd: defragmented", "took", time.Since(start).Round(time.Millisecond))
	}
	for _, a := range noSpace {
		if _, err := cli.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			return fmt.Errorf("clear the space alarm: %w", err)
		}
		log.Info("embedded etcd: cleared the out-of-space alarm")
	}
	return nil
}

// ClientURL is the etcd client endpoint, e.g. http://127.0.0.1:2379.
func (e *Etcd) ClientURL() string { return e.clientURL }

// PeerURL is the etcd peer endpoint (no other member uses it, but it
// listens), e.g. http://127.0.0.1:2380.
func (e *Etcd) PeerURL() string { return e.peerURL }

// Close stops etcd.
func (e *Etcd) Close() { e.e.Close() }

// pickPorts sets each of ports that is 0 to a free port. The listeners
// stay open until all are picked, so no two of them get the same port.
func pickPorts(ports ...*int) error {
	for _, p := range ports {
		if *p != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("embedded etcd: pick port: %w", err)
		}
		defer l.Close()
		*p = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
