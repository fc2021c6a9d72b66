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
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-flow/faas-flow/gateway/builder"
	"github.com/faas-flow/faas-flow/gateway/client"
	"github.com/faas-flow/faas-flow/gateway/embedded"
	"github.com/faas-flow/faas-flow/gateway/queue"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
	"github.com/faas-flow/faas-flow/transport/natsqueue"
)

// Errors StartLocal callers branch on.
var (
	// ErrPortInUse: the gateway's address is taken.
	ErrPortInUse = errors.New("port already in use")
	// ErrStateDirInUse: another gateway runs on the same state dir.
	ErrStateDirInUse = errors.New("state dir in use")
)

// PortInUseError reports the gateway's address is taken; it matches ErrPortInUse.
type PortInUseError struct{ Addr string }

func (e *PortInUseError) Error() string {
	return e.Addr + " is already in use (is another faasflow up running? pick another with --port)"
}

// Is makes errors.Is(err, ErrPortInUse) true.
func (e *PortInUseError) Is(target error) bool { return target == ErrPortInUse }

// HMACSecretName is the flow signing secret created in the secret store on
// first start.
const HMACSecretName = "faasflow-hmac-secret"

// LocalOptions configure StartLocal. Zero values mean the documented defaults.
type LocalOptions struct {
	// StateDir holds everything (default ".faasflow").
	StateDir string
	// Host is the listen address (default 127.0.0.1).
	Host string
	// Port of the gateway (0: a free port).
	Port int
	// User and Password for /system/* (default: generated on first start
	// and kept in StateDir/auth). NoAuth leaves /system/* open.
	User, Password string
	NoAuth         bool
	// SecretsDir is the secret store functions' secrets come from (default
	// StateDir/secret-store).
	SecretsDir string
	// SDKDir is the faas-flow checkout for replace directives (default:
	// found by walking up from the working directory).
	SDKDir string
	// NATSURL selects an external NATS JetStream server (default: embedded).
	NATSURL string
	// EtcdEndpoints selects an external etcd (default: embedded).
	EtcdEndpoints []string
	// EtcdSync keeps fsync in the embedded etcd (default off: faster, and a
	// machine crash may lose the last writes; see docs/gateway.md).
	EtcdSync bool
	// S3URL selects MinIO/S3 for flow data (default: StateDir/data) with
	// S3Bucket, S3AccessKey and S3SecretKey (written as the secrets
	// s3-access-key and s3-secret-key).
	S3URL, S3Bucket, S3AccessKey, S3SecretKey string
	// BuildCacheDir keeps built binaries by content hash (default
	// StateDir/build-cache).
	BuildCacheDir string
	// FunctionTimeout is the default exec timeout (default 60s).
	FunctionTimeout time.Duration
	// FunctionProcs is the GOMAXPROCS of functions without a CPU limit or
	// a GOMAXPROCS of their own (0: Go's default); see Options.FunctionProcs.
	FunctionProcs int
	// QueueWorkers bounds concurrent async calls (default 32); NoQueueWorker
	// starts no worker (requests stay queued).
	QueueWorkers  int
	NoQueueWorker bool
	// AckWait, MaxDeliver, InitialRetryWait, MaxRetryWait tune the queue
	// worker (defaults 30s, 10, 1s, 60s).
	AckWait          time.Duration
	MaxDeliver       int
	InitialRetryWait time.Duration
	MaxRetryWait     time.Duration
	// TracerProvider traces the gateway and the queue (nil: no-op).
	TracerProvider trace.TracerProvider
	// Logger receives gateway events (nil: discarded).
	Logger *slog.Logger
}

// Local is a running local stack.
type Local struct {
	opts      LocalOptions
	url       string
	creds     *Credentials
	payload   []byte
	etcdURLs  []string
	natsURL   string
	server    *Server
	httpSrv   *http.Server
	worker    *queue.Worker
	sup       *supervisor.Supervisor
	nc        *nats.Conn
	natsSrv   *embedded.NATS
	etcd      *embedded.Etcd
	lock      *os.File
	closeOnce sync.Once
	closeErr  error
	served    chan struct{}
}

// StartLocal starts NATS, etcd, the supervisor, the queue worker and the
// gateway, and restarts the functions registered in the state dir.
func StartLocal(ctx context.Context, o LocalOptions) (_ *Local, err error) {
	if o.StateDir == "" {
		o.StateDir = ".faasflow"
	}
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.SecretsDir == "" {
		o.SecretsDir = filepath.Join(o.StateDir, "secret-store")
	}
	if o.SDKDir == "" {
		if wd, err := os.Getwd(); err == nil {
			o.SDKDir, _ = builder.FindSDKDir(wd)
		}
	}
	l := &Local{opts: o, served: make(chan struct{})}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
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
	served := false
	defer func() {
		if !served {
			ln.Close()
		}
	}()

	if err := l.secrets(); err != nil {
		return nil, err
	}
	if err := l.startNATS(); err != nil {
		return nil, err
	}
	if err := l.startEtcd(); err != nil {
		return nil, err
	}
	reg, err := store.Open(filepath.Join(o.StateDir, "registry.json"))
	if err != nil {
		return nil, err
	}
	promReg := prometheus.NewRegistry()
	metrics, err := NewMetrics(promReg)
	if err != nil {
		return nil, err
	}
	l.sup, err = supervisor.New(supervisor.Options{
		StateDir: o.StateDir, SecretsDir: o.SecretsDir, DefaultTimeout: o.FunctionTimeout,
		Logger: o.Logger, OnRestart: metrics.Restarted,
	})
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(l.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := queue.EnsureStream(sctx, js, queue.StreamOptions{}); err != nil {
		return nil, err
	}
	flowEnv, flowSecrets := localFlowEnv(o, l.etcdURLs, l.natsURL)
	if err := os.MkdirAll(filepath.Join(o.StateDir, "data"), 0o755); err != nil {
		return nil, err
	}
	l.server, err = NewServer(Options{
		Store: reg, Supervisor: l.sup, Publisher: natsqueue.NewPublisher(js, o.TracerProvider),
		Auth: l.creds, PayloadSecret: l.payload, StateDir: o.StateDir, SDKDir: o.SDKDir, BuildCacheDir: o.BuildCacheDir,
		Env:     map[string]string{"gateway": l.url, "gateway_url": l.url},
		FlowEnv: flowEnv, FlowSecrets: flowSecrets, Registry: promReg, Metrics: metrics, FunctionProcs: o.FunctionProcs,
		TracerProvider: o.TracerProvider, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	l.httpSrv = &http.Server{
		Handler:           l.server,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	l.httpSrv.RegisterOnShutdown(l.server.CloseStreams)
	served = true
	go func() {
		defer close(l.served)
		if err := l.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("gateway stopped", "err", err)
		}
	}()
	if err := l.server.Restore(ctx); err != nil {
		o.Logger.Warn("some functions could not be restarted", "err", err)
	}
	if !o.NoQueueWorker {
		l.worker, err = queue.NewWorker(ctx, js, queue.WorkerOptions{
			GatewayURL: l.url, Handler: l.server, Concurrency: o.QueueWorkers, AckWait: o.AckWait, MaxDeliver: o.MaxDeliver,
			InitialRetryWait: o.InitialRetryWait, MaxRetryWait: o.MaxRetryWait,
			Registerer: promReg, TracerProvider: o.TracerProvider, Logger: o.Logger,
		})
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

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
	if err := os.MkdirAll(l.opts.SecretsDir, 0o700); err != nil {
		return fmt.Errorf("secret store: %w", err)
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

func readOrWrite(path, def string) (string, error) {
	if v, err := ReadSecretFile(path); err == nil && v != "" {
		return v, nil
	}
	if err := writeFileAtomic(path, []byte(def+"\n")); err != nil {
		return "", err
	}
	return def, nil
}

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
	l.natsSrv, err = embedded.StartNATS(embedded.NATSOptions{StoreDir: filepath.Join(l.opts.StateDir, "nats")})
	if err != nil {
		return err
	}
	l.natsURL = l.natsSrv.URL()
	l.nc, err = l.natsSrv.Connect()
	return err
}

func (l *Local) startEtcd() error {
	if len(l.opts.EtcdEndpoints) > 0 {
		l.etcdURLs = l.opts.EtcdEndpoints
		return nil
	}
	var err error
	l.etcd, err = embedded.StartEtcd(embedded.EtcdOptions{Dir: filepath.Join(l.opts.StateDir, "etcd"), Sync: l.opts.EtcdSync, Logger: l.opts.Logger})
	if err != nil {
		return err
	}
	l.etcdURLs = []string{l.etcd.ClientURL()}
	return nil
}

// URL is the gateway's base URL, e.g. http://127.0.0.1:8080.
func (l *Local) URL() string { return l.url }

// Credentials returns the /system/* user and password ("" when auth is off).
func (l *Local) Credentials() (user, password string) {
	if l.creds == nil {
		return "", ""
	}
	return l.creds.User, l.creds.Password
}

// PayloadSecret signs builds for POST /build (faas-cli --payload-secret).
func (l *Local) PayloadSecret() []byte { return l.payload }

// PayloadSecretFile is the file holding PayloadSecret.
func (l *Local) PayloadSecretFile() string {
	return filepath.Join(l.opts.StateDir, "auth", "payload-secret")
}

// StateDir is the absolute state directory.
func (l *Local) StateDir() string { return l.opts.StateDir }

// NATSURL is the NATS client URL.
func (l *Local) NATSURL() string { return l.natsURL }

// EtcdEndpoints are the etcd client URLs.
func (l *Local) EtcdEndpoints() []string { return l.etcdURLs }

// SecretsDir is the secret store.
func (l *Local) SecretsDir() string { return l.opts.SecretsDir }

// FunctionPIDs are the process ids of the running function instances
// (classic fprocess functions, which start a process per call, have none).
func (l *Local) FunctionPIDs() []int {
	var pids []int
	for _, name := range l.sup.Names() {
		if inst, ok := l.sup.Get(name); ok {
			if pid := inst.PID(); pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Server is the HTTP API (for its metrics registry).
func (l *Local) Server() *Server { return l.server }

// Client returns a gateway client with the credentials.
func (l *Local) Client() *client.Client {
	u, p := l.Credentials()
	return client.New(l.url, u, p)
}

// localFlowEnv is the environment (and the extra secrets) the local stack
// gives faas-flow functions: its etcd, NATS queue and data store, under
// what their stack file sets.
func localFlowEnv(o LocalOptions, etcdURLs []string, natsURL string) (map[string]string, []string) {
	env := map[string]string{
		"state_store": "etcd", "etcd_endpoints": strings.Join(etcdURLs, ","),
		"data_store": "local", "data_dir": filepath.Join(o.StateDir, "data"),
		// Hops go straight to the queue's stream instead of through the
		// gateway's async endpoint (a stack file's environment may set
		// hop_transport: gateway instead).
		"hop_transport": "nats", "nats_url": natsURL,
	}
	if len(o.EtcdEndpoints) == 0 {
		// The embedded etcd has one member: its reads need no raft round
		// trip to be up to date.
		env["etcd_serializable_reads"] = "true"
	}
	if o.S3URL == "" {
		return env, nil
	}
	env["data_store"] = "minio"
	env["s3_url"] = o.S3URL
	env["s3_bucket"] = o.S3Bucket
	delete(env, "data_dir")
	return env, []string{"s3-access-key", "s3-secret-key"}
}

// Deploy builds and deploys every function of stackFile, like
// `faasflow deploy -f stackFile`. Progress goes to log (nil: discarded).
func (l *Local) Deploy(ctx context.Context, stackFile string, log io.Writer) error {
	return client.DeployStack(ctx, l.Client(), stackFile, client.DeployOptions{
		PayloadSecret: l.payload, SDKDir: l.opts.SDKDir, Log: log,
	})
}

// Close stops the worker, the gateway, the functions and the servers.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if l.worker != nil {
			errs = append(errs, l.worker.Close(ctx))
		}
		if l.httpSrv != nil {
			errs = append(errs, l.httpSrv.Shutdown(ctx))
			<-l.served
		}
		if l.sup != nil {
			errs = append(errs, l.sup.Close())
		}
		if l.nc != nil {
			l.nc.Close()
		}
		if l.natsSrv != nil {
			l.natsSrv.Close()
		}
		if l.etcd != nil {
			l.etcd.Close()
		}
		if l.lock != nil {
			l.lock.Close()
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
