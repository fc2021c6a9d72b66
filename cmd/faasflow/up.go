package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/faas-flow/faas-flow/gateway"
)

const pidFile = "faasflow.pid"

// runUp starts the local stack in the foreground and serves until an
// interrupt or SIGTERM (`faasflow down`), with tracing over OTLP when an
// endpoint is given.
func runUp(ctx context.Context, e env, args []string) error {
	var f upFlags
	fs := newFlagSet("up", e, "up [flags]")
	f.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	o := f.options(e)
	if f.pprofAddr != "" {
		addr, err := servePprof(ctx, f.pprofAddr, e.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "profiler: http://%s/debug/pprof/\n", addr)
	}
	otlp := f.otlp
	if otlp == "" {
		otlp = e.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if otlp != "" {
		tp, err := tracerProvider(ctx, otlp)
		if err != nil {
			return err
		}
		defer func() {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(c)
		}()
		o.TracerProvider = tp
	}
	return serveUp(ctx, e, o)
}

// upFlags are the flags of `faasflow up`: most set o directly, the others
// are resolved by options.
type upFlags struct {
	o          gateway.LocalOptions
	etcd, otlp string
	pprofAddr  string
	verbose    bool
	procs      procsFlag
	gogc       gcFlag
}

// register defines the flags on fs.
func (f *upFlags) register(fs *flag.FlagSet) {
	o := &f.o
	f.procs.register(fs)
	f.gogc.register(fs)
	fs.IntVar(&o.Port, "port", 8080, "gateway port")
	fs.StringVar(&o.Host, "host", "127.0.0.1", "address to listen on")
	fs.StringVar(&o.StateDir, "state-dir", "", "directory holding all state (functions, queue, etcd, data, logs; default $FAASFLOW_STATE_DIR, else .faasflow)")
	fs.StringVar(&o.NATSURL, "nats-url", "", "external NATS JetStream server (default: embedded)")
	fs.StringVar(&f.etcd, "etcd-endpoints", "", "external etcd endpoints, comma-separated (default: embedded)")
	fs.BoolVar(&o.EtcdSync, "etcd-sync", false, "keep fsync in the embedded etcd (slower, survives machine crashes)")
	fs.Func("callback-allow", "allow X-Callback-Url destinations on the stack's own etcd, NATS or S3 ports: IPs, CIDRs or host names, each optionally with :port; comma-separated or repeated (others there are refused)", func(v string) error {
		o.CallbackAllow = append(o.CallbackAllow, strings.Split(v, ",")...)
		return nil
	})
	fs.StringVar(&o.S3URL, "s3-url", "", "MinIO/S3 endpoint for flow data (default: local data dir)")
	fs.StringVar(&o.S3Bucket, "s3-bucket", "faasflow", "bucket for flow data (with --s3-url)")
	fs.StringVar(&o.S3AccessKey, "s3-access-key", "", "S3 access key (default $S3_ACCESS_KEY)")
	fs.StringVar(&o.S3SecretKey, "s3-secret-key", "", "S3 secret key (default $S3_SECRET_KEY)")
	fs.StringVar(&o.SecretsDir, "secrets-dir", "", "secret store for functions' secrets (default STATE_DIR/secret-store)")
	fs.StringVar(&o.SDKDir, "sdk-dir", "", "faas-flow checkout used to build flows offline (default: found from the working dir)")
	fs.StringVar(&o.User, "username", "", "basic-auth user for /system/* (default: generated once, kept in the state dir)")
	fs.StringVar(&o.Password, "password", "", "basic-auth password (default: generated once, kept in the state dir)")
	fs.BoolVar(&o.NoAuth, "no-auth", false, "leave /system/* without authentication")
	fs.IntVar(&o.QueueWorkers, "queue-workers", 64, "async calls processed concurrently")
	fs.DurationVar(&o.AckWait, "ack-wait", 30*time.Second, "redeliver an async call when its worker is silent this long")
	fs.IntVar(&o.MaxDeliver, "max-deliver", 10, "attempts per async call")
	fs.Int64Var(&o.QueueMaxPerFunction, "queue-max-per-function", 0, "calls one function may have queued, waiting or in flight (0: unbounded); new async calls are answered 429 with Retry-After from three quarters of it, leaving the rest to the hops of flow requests already running")
	fs.StringVar(&o.QueueDelivery, "queue-delivery", gateway.DeliverAtLeastOnce, "at-least-once (acknowledge after the call, retry failures) or at-most-once (as OpenFaaS CE: acknowledge first, never retry, one call at a time, 202 for unknown functions)")
	fs.Float64Var(&o.QueueFailRate, "queue-fail-rate", 0, "fail this fraction of queued calls on purpose, without calling the function (to test flows under lost hops)")
	fs.DurationVar(&o.FunctionTimeout, "function-timeout", 60*time.Second, "default exec timeout of functions (env exec_timeout/write_timeout override)")
	o.MaxBodyBytes = 32 << 20
	fs.Var((*sizeFlag)(&o.MaxBodyBytes), "max-body-size", "largest body of a sync call, in bytes or with KiB, MiB or GiB; a larger one is answered 413")
	fs.IntVar(&o.MaxConcurrentBuilds, "max-builds", 2, "POST /build requests (uploads and compilations) handled at once; one more is answered 429 with Retry-After")
	o.MaxBuildBytes = 256 << 20
	fs.Var((*sizeFlag)(&o.MaxBuildBytes), "max-build-size", "largest build archive of a POST /build, in bytes or with KiB, MiB or GiB; a larger one is answered 413")
	fs.StringVar(&f.otlp, "otlp-endpoint", "", "send traces over OTLP/HTTP to this host:port (default $OTEL_EXPORTER_OTLP_ENDPOINT; none: tracing off)")
	fs.StringVar(&o.JaegerURL, "jaeger-url", "", "Jaeger UI the dashboard (/ui/) links requests' traces to, e.g. http://127.0.0.1:16686 (default: no links)")
	fs.DurationVar(&o.EventsMaxAge, "events-max-age", gateway.DefaultEventsMaxAge, "keep completion events (stream FAASFLOW_EVENTS) this long")
	fs.Var((*sizeFlag)(&o.EventsMaxBytes), "events-max-size", "keep at most this much of completion events, the oldest going first, in bytes or with KiB, MiB or GiB (default 1GiB)")
	fs.StringVar(&o.S3WebhookToken, "s3-webhook-token", "", "token bucket notifications posted to /system/events/s3 must carry (default: generated once, kept in the state dir)")
	fs.BoolVar(&o.NoEvents, "no-events", false, "publish no completion events (no stream FAASFLOW_EVENTS)")
	fs.BoolVar(&f.verbose, "verbose", false, "log debug events")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "", "serve Go's profiler for the gateway process (with its queue worker, NATS and etcd) under /debug/pprof/ on this address, e.g. 127.0.0.1:6060 (default: not served)")
}

// options are the parsed flags as gateway options: the etcd endpoints
// split, --procs applied (this process's GOMAXPROCS, see procsFlag), the
// S3 keys from the environment when not given, and a logger on stderr.
func (f *upFlags) options(e env) gateway.LocalOptions {
	o := f.o
	o.StateDir = stateDir(e, o.StateDir)
	if f.etcd != "" {
		o.EtcdEndpoints = strings.Split(f.etcd, ",")
	}
	o.FunctionProcs = f.procs.apply(e)
	o.FunctionGOGC = f.gogc.apply(e)
	s3KeysFromEnv(e, &o.S3AccessKey, &o.S3SecretKey)
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	return o
}

// serveUp starts the local stack, writes its pid and URL files (for
// `faasflow down` and the client commands) and prints how to use it, then runs until an interrupt, SIGTERM
// or the end of ctx, and stops it.
func serveUp(ctx context.Context, e env, o gateway.LocalOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(e.stderr, "starting NATS JetStream, etcd and the gateway…")
	l, err := gateway.StartLocal(ctx, o)
	if err != nil {
		return err
	}
	defer l.Close()
	remove, err := writeRunning(l.StateDir(), os.Getpid(), l.URL())
	if err != nil {
		return fmt.Errorf("write pid and URL files: %w", err)
	}
	defer remove()
	printUp(e, l, o)
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "stopping…")
	if err := l.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// printUp tells how to reach and use the running stack l.
func printUp(e env, l *gateway.Local, o gateway.LocalOptions) {
	w := e.stdout
	u, p := l.Credentials()
	fmt.Fprintf(w, "faasflow local gateway is up\n\n")
	fmt.Fprintf(w, "  gateway        %s   (export OPENFAAS_URL=%s)\n", l.URL(), l.URL())
	if u != "" {
		fmt.Fprintf(w, "  user           %s\n  password       %s\n", u, p)
		fmt.Fprintf(w, "  faas-cli login echo %s | faas-cli login -u %s --password-stdin -g %s\n", p, u, l.URL())
	} else {
		fmt.Fprintf(w, "  auth           off (--no-auth)\n")
	}
	fmt.Fprintf(w, "  remote builder faas-cli up --remote-builder %s/ --payload-secret %s\n", l.URL(), l.PayloadSecretFile())
	if o.NoEvents {
		fmt.Fprintf(w, "  NATS           %s (stream faas-request)\n", l.NATSURL())
	} else {
		fmt.Fprintf(w, "  NATS           %s (stream faas-request; completion events on %s)\n", l.NATSURL(), gateway.EventsStreamName)
	}
	token := "token in " + filepath.Join(l.StateDir(), "auth", "s3-webhook-token")
	if o.S3WebhookToken != "" {
		token = "token of --s3-webhook-token"
	}
	fmt.Fprintf(w, "  bucket events  POST %s%s (%s)\n", l.URL(), gateway.S3EventsPath, token)
	fmt.Fprintf(w, "  etcd           %s\n", strings.Join(l.EtcdEndpoints(), ","))
	if o.S3URL != "" {
		fmt.Fprintf(w, "  flow data      %s bucket %s\n", o.S3URL, o.S3Bucket)
	} else {
		fmt.Fprintf(w, "  flow data      %s\n", filepath.Join(l.StateDir(), "data"))
	}
	fmt.Fprintf(w, "  secrets        %s\n", l.SecretsDir())
	fmt.Fprintf(w, "  metrics        %s/metrics\n", l.URL())
	if o.FunctionProcs > 0 {
		fmt.Fprintf(w, "  GOMAXPROCS     %d for the gateway and for functions without a CPU limit (--procs)\n", o.FunctionProcs)
	}
	if o.FunctionGOGC > 0 {
		fmt.Fprintf(w, "  GOGC           %d for the gateway and for functions that set no GOGC or GOMEMLIMIT (--gogc)\n", o.FunctionGOGC)
	}
	fmt.Fprintf(w, "  state dir      %s\n\n", l.StateDir())
	fmt.Fprintf(w, "Deploy with `faasflow deploy -f stack.yml`. Stop with Ctrl-C or `faasflow down`.\n")
}

// tracerProvider exports spans in batches over OTLP/HTTP to endpoint (a
// host:port, over plain HTTP, or a URL), as the service faasflow-gateway.
func tracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	opts := []otlptracehttp.Option{}
	if strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://") {
		opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("faasflow-gateway")))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
