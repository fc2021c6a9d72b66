package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/faas-flow/faas-flow/gateway/client"
	"github.com/faas-flow/faas-flow/gateway/embedded"
	"github.com/faas-flow/faas-flow/gateway/queue"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
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
	// CallbackAllow lists callback destinations allowed although they are
	// internal services of the stack (the etcd and NATS ports, the S3
	// URL): IPs, CIDRs or host names, each optionally with :port (see
	// callbackguard.Options.Allow). Other such callbacks are refused.
	CallbackAllow []string
	// S3URL selects MinIO/S3 for flow data (default: StateDir/data) with
	// S3Bucket, S3AccessKey and S3SecretKey (written as the secrets
	// s3-access-key and s3-secret-key).
	S3URL, S3Bucket, S3AccessKey, S3SecretKey string
	// BuildCacheDir keeps built binaries by content hash (default
	// StateDir/build-cache).
	BuildCacheDir string
	// FunctionTimeout is the default exec timeout (default 60s).
	FunctionTimeout time.Duration
	// MaxBodyBytes bounds the body of a sync call (default 32 MiB); see
	// Options.MaxBodyBytes.
	MaxBodyBytes int64
	// MaxConcurrentBuilds bounds the POST /build requests handled at once
	// (default 2; more are answered 429), and MaxBuildBytes the archive of
	// one (default 256 MiB; larger is 413); see Options.
	MaxConcurrentBuilds int
	MaxBuildBytes       int64
	// FunctionProcs is the GOMAXPROCS of functions without a CPU limit or
	// a GOMAXPROCS of their own (0: Go's default); see Options.FunctionProcs.
	FunctionProcs int
	// FunctionGOGC is the GOGC of functions that set neither GOGC nor
	// GOMEMLIMIT of their own (0: Go's default); see Options.FunctionGOGC.
	FunctionGOGC int
	// QueueWorkers bounds concurrent async calls (default 64); NoQueueWorker
	// starts no worker (requests stay queued).
	QueueWorkers  int
	NoQueueWorker bool
	// QueueMaxPerFunction bounds the calls queued for one function,
	// waiting or in flight (0: unbounded). The stream refuses a call past
	// it, so a flow's own hops then wait in its records for the reconciler;
	// new async calls are refused earlier, with 429, once the function has
	// QueueAdmitBelow(QueueMaxPerFunction) calls queued.
	QueueMaxPerFunction int64
	// QueueDelivery is how the queue worker delivers async calls:
	// DeliverAtLeastOnce (the default: acknowledged after the call, retried
	// on failure) or DeliverAtMostOnce (as OpenFaaS CE: acknowledged before
	// the call, never retried, one call at a time, and 202 for an async call
	// to a function that is not deployed).
	QueueDelivery string
	// QueueFailRate makes this fraction of queued calls fail on purpose
	// (see queue.WorkerOptions.FailRate); for tests of lost hops.
	QueueFailRate float64
	// QueueDuplicateRate makes the queue worker deliver this fraction of
	// queued calls twice at once (see queue.WorkerOptions.DuplicateRate);
	// for tests of duplicated hops.
	QueueDuplicateRate float64
	// AckWait, MaxDeliver, InitialRetryWait, MaxRetryWait tune the queue
	// worker (defaults 30s, 10, 1s, 60s).
	AckWait          time.Duration
	MaxDeliver       int
	InitialRetryWait time.Duration
	MaxRetryWait     time.Duration
	// S3WebhookToken is the token MinIO's webhook target (auth_token)
	// sends with bucket notifications to S3EventsPath (default: generated
	// on first start and kept in StateDir/auth/s3-webhook-token).
	S3WebhookToken string
	// EventsMaxAge and EventsMaxBytes bound the completion events the
	// stream FAASFLOW_EVENTS keeps (defaults DefaultEventsMaxAge and
	// DefaultEventsMaxBytes); EventsDuplicateWindow is how long a repeated
	// event is recognised (default DefaultEventsDuplicate). NoEvents
	// creates no stream and has flows publish no events.
	EventsMaxAge          time.Duration
	EventsMaxBytes        int64
	EventsDuplicateWindow time.Duration
	NoEvents              bool
	// TracerProvider traces the gateway and the queue (nil: no-op).
	TracerProvider trace.TracerProvider
	// JaegerURL is the Jaeger UI the dashboard (/ui/) links a request's
	// trace to (empty: no links).
	JaegerURL string
	// Logger receives gateway events (nil: discarded).
	Logger *slog.Logger
}

// Queue delivery modes of LocalOptions.QueueDelivery.
const (
	DeliverAtLeastOnce = "at-least-once"
	DeliverAtMostOnce  = "at-most-once"
)

// Local is a running local stack.
type Local struct {
	opts      LocalOptions
	url       string
	creds     *Credentials
	payload   []byte
	s3Token   string
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
//
// The steps, in order: take the state dir and the gateway's address
// (lockAndListen), start the services the stack depends on
// (startServices), open the function registry and the supervisor
// (openRegistry), make sure of the queue's stream (openQueue), create and
// start the HTTP API (newServer, serve), restart the registered functions
// and start the queue worker (startWorker). A step that fails closes what
// the earlier ones started.
func StartLocal(ctx context.Context, o LocalOptions) (_ *Local, err error) {
	if o, err = o.withDefaults(); err != nil {
		return nil, err
	}
	l := &Local{opts: o, served: make(chan struct{})}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	ln, err := l.lockAndListen()
	if err != nil {
		return nil, err
	}
	served := false
	defer func() {
		if !served {
			ln.Close()
		}
	}()
	if err := l.startServices(); err != nil {
		return nil, err
	}
	promReg := prometheus.NewRegistry()
	reg, metrics, err := l.openRegistry(promReg)
	if err != nil {
		return nil, err
	}
	js, err := l.openQueue(ctx)
	if err != nil {
		return nil, err
	}
	if l.server, err = l.newServer(reg, js, promReg, metrics); err != nil {
		return nil, err
	}
	l.serve(ln)
	served = true
	if err := l.server.Restore(ctx); err != nil {
		o.Logger.Warn("some functions could not be restarted", "err", err)
	}
	if err := l.startWorker(ctx, js, promReg); err != nil {
		return nil, err
	}
	return l, nil
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

// S3WebhookToken is the token bucket notifications to S3EventsPath must
// carry (MinIO's MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_<ID>).
func (l *Local) S3WebhookToken() string { return l.s3Token }

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

// FunctionPIDs are the process ids of the running function replicas
// (classic fprocess functions, which start a process per call, have none).
func (l *Local) FunctionPIDs() []int {
	var pids []int
	for _, name := range l.sup.Names() {
		for _, pid := range l.ReplicaPIDs(name) {
			if pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// ReplicaPIDs are the process ids of the replicas of function name, in
// replica order (0 for a replica whose process is not running; none when
// the function is not running).
func (l *Local) ReplicaPIDs(name string) []int {
	if inst, ok := l.sup.Get(name); ok {
		return inst.PIDs()
	}
	return nil
}

// Server is the HTTP API (for its metrics registry).
func (l *Local) Server() *Server { return l.server }

// Client returns a gateway client with the credentials.
func (l *Local) Client() *client.Client {
	u, p := l.Credentials()
	return client.New(l.url, u, p)
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
