package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faas-flow/faas-flow/gateway/builder"
	"github.com/faas-flow/faas-flow/gateway/embedded"
	"github.com/faas-flow/faas-flow/gateway/queue"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// withDefaults fills in the documented defaults and makes StateDir absolute.
func (o LocalOptions) withDefaults() (LocalOptions, error) {
	if o.StateDir == "" {
		o.StateDir = ".faasflow"
	}
	var err error
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return o, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	switch o.QueueDelivery {
	case "":
		o.QueueDelivery = DeliverAtLeastOnce
	case DeliverAtLeastOnce, DeliverAtMostOnce:
	default:
		return o, fmt.Errorf("queue delivery %q: want %s or %s", o.QueueDelivery, DeliverAtLeastOnce, DeliverAtMostOnce)
	}
	if o.QueueFailRate < 0 || o.QueueFailRate >= 1 {
		return o, fmt.Errorf("queue fail rate %v: want at least 0 and less than 1", o.QueueFailRate)
	}
	if o.QueueDuplicateRate < 0 || o.QueueDuplicateRate > 1 {
		return o, fmt.Errorf("queue duplicate rate %v: want from 0 to 1", o.QueueDuplicateRate)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = DefaultEventsMaxBytes
	}
	if o.EventsDuplicateWindow <= 0 {
		o.EventsDuplicateWindow = DefaultEventsDuplicate
	}
	if o.SecretsDir == "" {
		o.SecretsDir = filepath.Join(o.StateDir, "secret-store")
	}
	if o.SDKDir == "" {
		if wd, err := os.Getwd(); err == nil {
			o.SDKDir, _ = builder.FindSDKDir(wd)
		}
	}
	return o, nil
}

// lockAndListen creates and locks the state dir (ErrStateDirInUse when
// another gateway has it) and listens on the gateway's address (a
// PortInUseError when it is taken), setting l.url.
func (l *Local) lockAndListen() (net.Listener, error) {
	o := l.opts
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var err error
	if l.lock, err = lockStateDir(o.StateDir); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &PortInUseError{Addr: addr}
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l.url = "http://" + ln.Addr().String()
	return ln, nil
}

// startServices creates the credentials and secrets, then starts (or
// connects to) NATS and etcd.
func (l *Local) startServices() error {
	if err := l.secrets(); err != nil {
		return err
	}
	if err := l.startNATS(); err != nil {
		return err
	}
	return l.startEtcd()
}

// openRegistry opens the persisted function registry, registers the
// gateway's metrics on promReg and creates the supervisor (l.sup), which
// counts function restarts in them.
func (l *Local) openRegistry(promReg *prometheus.Registry) (*store.Store, *Metrics, error) {
	o := l.opts
	reg, err := store.Open(filepath.Join(o.StateDir, "registry.json"))
	if err != nil {
		return nil, nil, err
	}
	metrics, err := NewMetrics(promReg)
	if err != nil {
		return nil, nil, err
	}
	l.sup, err = supervisor.New(supervisor.Options{
		StateDir: o.StateDir, SecretsDir: o.SecretsDir, DefaultTimeout: o.FunctionTimeout,
		Logger: o.Logger, OnRestart: metrics.Restarted, OnKill: metrics.Killed,
	})
	if err != nil {
		return nil, nil, err
	}
	return reg, metrics, nil
}

// openQueue opens JetStream on the NATS connection and creates (or
// updates) the stream async requests are queued on and, unless NoEvents
// is set, the stream of completion events, within 30 seconds.
func (l *Local) openQueue(ctx context.Context) (jetstream.JetStream, error) {
	js, err := jetstream.New(l.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := queue.EnsureStream(sctx, js, queue.StreamOptions{MaxPerSubject: l.opts.QueueMaxPerFunction, Logger: l.opts.Logger}); err != nil {
		return nil, err
	}
	if !l.opts.NoEvents {
		if err := ensureEventsStream(sctx, js, l.opts.EventsMaxAge, l.opts.EventsMaxBytes, l.opts.EventsDuplicateWindow); err != nil {
			return nil, err
		}
	}
	return js, nil
}

// newServer creates the gateway's HTTP API over the registry and the
// supervisor, publishing async requests on js and giving faas-flow
// functions the stack's stores (localFlowEnv; the data dir is created).
func (l *Local) newServer(reg *store.Store, js jetstream.JetStream, promReg *prometheus.Registry, metrics *Metrics) (*Server, error) {
	o := l.opts
	natsURL, err := l.flowNATSURL()
	if err != nil {
		return nil, err
	}
	flowEnv, flowSecrets := localFlowEnv(o, l.etcdURLs, natsURL)
	if err := os.MkdirAll(filepath.Join(o.StateDir, "data"), 0o755); err != nil {
		return nil, err
	}
	ui, err := l.dashboard()
	if err != nil {
		return nil, err
	}
	return NewServer(Options{
		UI: ui, Store: reg, Supervisor: l.sup, Publisher: natsqueue.NewPublisher(js, o.TracerProvider),
		QueueUnknown: o.QueueDelivery == DeliverAtMostOnce, QueueAdmitBelow: QueueAdmitBelow(o.QueueMaxPerFunction),
		Auth: l.creds, PayloadSecret: l.payload, StateDir: o.StateDir, SDKDir: o.SDKDir, BuildCacheDir: o.BuildCacheDir,
		Env:     map[string]string{"gateway": l.url, "gateway_url": l.url},
		FlowEnv: flowEnv, FlowSecrets: flowSecrets, Registry: promReg, Metrics: metrics, FunctionProcs: o.FunctionProcs, FunctionGOGC: o.FunctionGOGC,
		MaxBodyBytes: o.MaxBodyBytes, MaxBuildBytes: o.MaxBuildBytes, MaxConcurrentBuilds: o.MaxConcurrentBuilds,
		TracerProvider: o.TracerProvider, Logger: o.Logger, S3WebhookToken: l.s3Token,
	})
}

// serve starts serving l.server on ln in the background; l.served is
// closed when it stops. Shutting down ends followed logs (CloseStreams).
func (l *Local) serve(ln net.Listener) {
	l.httpSrv = &http.Server{
		Handler:           l.server,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	l.httpSrv.RegisterOnShutdown(l.server.CloseStreams)
	go func() {
		defer close(l.served)
		if err := l.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.opts.Logger.Error("gateway stopped", "err", err)
		}
	}()
}

// startWorker starts the queue worker (l.worker), which calls functions
// through l.server in-process, unless NoQueueWorker is set.
func (l *Local) startWorker(ctx context.Context, js jetstream.JetStream, promReg *prometheus.Registry) error {
	o := l.opts
	if o.NoQueueWorker {
		return nil
	}
	guard, err := l.callbackGuard()
	if err != nil {
		return err
	}
	l.worker, err = queue.NewWorker(ctx, js, queue.WorkerOptions{
		CallbackGuard: guard,
		GatewayURL:    l.url, Handler: l.server, Concurrency: o.QueueWorkers, AckWait: o.AckWait, MaxDeliver: o.MaxDeliver,
		InitialRetryWait: o.InitialRetryWait, MaxRetryWait: o.MaxRetryWait,
		AtMostOnce: o.QueueDelivery == DeliverAtMostOnce, FailRate: o.QueueFailRate, FailSeed: uint64(time.Now().UnixNano()),
		DuplicateRate: o.QueueDuplicateRate, Registerer: promReg, TracerProvider: o.TracerProvider, Logger: o.Logger,
	})
	return err
}

// lockStateDir takes an exclusive lock on dir/lock, held as long as the
// file is open: ErrStateDirInUse when another gateway holds it.
func lockStateDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is used by another faasflow up (stop it with faasflow down, or use --state-dir)", ErrStateDirInUse, dir)
	}
	return f, nil
}

// secrets loads (or creates on first start) the /system/* credentials, the
// payload secret and the flow HMAC secret, and writes the S3 keys given
// and the /system/* login (for flows' control routes) into the secret
// store.
func (l *Local) secrets() error {
	auth := filepath.Join(l.opts.StateDir, "auth")
	if !l.opts.NoAuth {
		user, pass := l.opts.User, l.opts.Password
		var err error
		if user == "" {
			if user, err = readOrWrite(filepath.Join(auth, "basic-auth-user"), "admin"); err != nil {
				return err
			}
		}
		if pass == "" {
			if pass, _, err = loadOrCreateSecret(filepath.Join(auth, "basic-auth-password"), 16); err != nil {
				return fmt.Errorf("credentials: %w", err)
			}
		}
		l.creds = &Credentials{User: user, Password: pass}
	}
	p, _, err := loadOrCreateSecret(filepath.Join(auth, "payload-secret"), 32)
	if err != nil {
		return fmt.Errorf("payload secret: %w", err)
	}
	l.payload = []byte(p)
	if l.s3Token = l.opts.S3WebhookToken; l.s3Token == "" {
		if l.s3Token, _, err = loadOrCreateSecret(filepath.Join(auth, "s3-webhook-token"), 32); err != nil {
			return fmt.Errorf("bucket notification token: %w", err)
		}
	}
	if err := os.MkdirAll(l.opts.SecretsDir, 0o700); err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	if l.creds != nil {
		if err := l.flowLogin(l.creds); err != nil {
			return err
		}
	}
	if _, _, err := loadOrCreateSecret(filepath.Join(l.opts.SecretsDir, HMACSecretName), 32); err != nil {
		return fmt.Errorf("secret %s: %w", HMACSecretName, err)
	}
	if l.opts.S3URL != "" {
		for name, v := range map[string]string{"s3-access-key": l.opts.S3AccessKey, "s3-secret-key": l.opts.S3SecretKey} {
			if v == "" {
				if _, err := os.Stat(filepath.Join(l.opts.SecretsDir, name)); err != nil {
					return fmt.Errorf("--s3-url needs the S3 access and secret keys (flags, or the files %s)", filepath.Join(l.opts.SecretsDir, name))
				}
				continue
			}
			if err := writeFileAtomic(filepath.Join(l.opts.SecretsDir, name), []byte(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readOrWrite returns the content of the file at path, writing def there
// first when it is missing or empty.
func readOrWrite(path, def string) (string, error) {
	if v, err := ReadSecretFile(path); err == nil && v != "" {
		return v, nil
	}
	if err := writeFileAtomic(path, []byte(def+"\n")); err != nil {
		return "", err
	}
	return def, nil
}

// startNATS connects to NATSURL or, when it is empty, starts the embedded
// NATS JetStream server under the state dir and connects to it.
func (l *Local) startNATS() error {
	var err error
	if l.opts.NATSURL != "" {
		l.nc, err = nats.Connect(l.opts.NATSURL, nats.Name("faasflow-gateway"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("connect to NATS %s: %w", l.opts.NATSURL, err)
		}
		l.natsURL = l.opts.NATSURL
		return nil
	}
	user, password, err := l.natsLogin()
	if err != nil {
		return err
	}
	l.natsSrv, err = embedded.StartNATS(embedded.NATSOptions{StoreDir: filepath.Join(l.opts.StateDir, "nats"), User: user, Password: password})
	if err != nil {
		return err
	}
	l.natsURL = l.natsSrv.URL()
	l.nc, err = l.natsSrv.Connect()
	return err
}

// startEtcd uses EtcdEndpoints or, when there are none, starts the
// embedded etcd under the state dir.
func (l *Local) startEtcd() error {
	if len(l.opts.EtcdEndpoints) > 0 {
		l.etcdURLs = l.opts.EtcdEndpoints
		return nil
	}
	var err error
	root, user, err := l.etcdLogins()
	if err != nil {
		return err
	}
	l.etcd, err = embedded.StartEtcd(embedded.EtcdOptions{Dir: filepath.Join(l.opts.StateDir, "etcd"), Sync: l.opts.EtcdSync, Logger: l.opts.Logger,
		RootPassword: root, Users: []embedded.EtcdUser{user}})
	if err != nil {
		return err
	}
	l.etcdURLs = []string{l.etcd.ClientURL()}
	return nil
}

// localFlowEnv is the environment (and the extra secrets) the local stack
// gives faas-flow functions: its etcd, NATS queue and data store, under
// what their stack file sets, and the stack's hop signing secret, so that
// a flow made by faas-cli new runs without editing its stack file.
func localFlowEnv(o LocalOptions, etcdURLs []string, natsURL string) (map[string]string, []string) {
	env := map[string]string{
		"state_store": "etcd", "etcd_endpoints": strings.Join(etcdURLs, ","),
		"data_store": "local", "data_dir": filepath.Join(o.StateDir, "data"),
		// Hops go straight to the queue's stream instead of through the
		// gateway's async endpoint (a stack file's environment may set
		// hop_transport: gateway instead).
		"hop_transport": "nats", "nats_url": natsURL,
	}
	if !o.NoEvents {
		// Every request's end goes to the stream FAASFLOW_EVENTS.
		env["events_nats_url"] = natsURL
		env["events_subject_prefix"] = EventsSubjectPrefix
	}
	if len(o.EtcdEndpoints) == 0 {
		// The embedded etcd has one member: its reads need no raft round
		// trip to be up to date.
		env["etcd_serializable_reads"] = "true"
	}
	if len(o.CallbackAllow) > 0 {
		env["callback_allow"] = strings.Join(o.CallbackAllow, ",")
	}
	if o.NoAuth {
		// No login to check: the flows' control routes are as open as
		// the gateway's /system/*.
		env["control_auth"] = "none"
	}
	secrets := append([]string{HMACSecretName}, internalSecrets(o)...)
	if o.S3URL == "" {
		return env, secrets
	}
	env["data_store"] = "minio"
	env["s3_url"] = o.S3URL
	env["s3_bucket"] = o.S3Bucket
	delete(env, "data_dir")
	return env, append(secrets, "s3-access-key", "s3-secret-key")
}
