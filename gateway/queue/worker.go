package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/transport/callbackguard"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// WorkerOptions configure a Worker. Zero values mean the documented defaults.
type WorkerOptions struct {
	// GatewayURL is where functions are invoked, e.g. http://127.0.0.1:8080
	// (required unless Handler is set).
	GatewayURL string
	// Handler, when set, is the gateway itself: calls are dispatched to it
	// in-process (same routes, metrics, timeouts and tracing as over HTTP)
	// instead of over a loopback connection to GatewayURL. The local gateway
	// runs its queue worker this way.
	Handler http.Handler
	// Client invokes functions and posts callbacks (default: a client with no timeout).
	Client *http.Client
	// Concurrency bounds the calls in flight (default 64).
	Concurrency int
	// MaxAckPending bounds delivered-but-unacked messages, including those
	// waiting for a NAK delay (default 1000).
	MaxAckPending int
	// AckWait is how long JetStream waits for an ack before redelivering
	// (default 30s). Long calls are kept alive with in-progress acks, so a
	// redelivery happens only when the worker died.
	AckWait time.Duration
	// MaxDeliver bounds attempts per message (default 10).
	MaxDeliver int
	// InitialRetryWait and MaxRetryWait bound the NAK backoff (defaults 1s, 60s).
	InitialRetryWait, MaxRetryWait time.Duration
	// AtMostOnce delivers as OpenFaaS CE's queue worker does: each message
	// is acknowledged before its call, a call that fails is not retried,
	// and one call is in flight at a time (Concurrency is 1). Flows are
	// tested under it with faasflow up --queue-delivery at-most-once.
	AtMostOnce bool
	// FailRate is the fraction of calls that fail on purpose, answered 502
	// without reaching the function, as if the connection to it broke
	// (seeded by FailSeed). It lets tests show that a flow survives lost
	// calls; 0 in normal use.
	FailRate float64
	FailSeed uint64
	// DuplicateRate is the fraction of calls made twice at once, as a
	// queue that delivers a message again while its first delivery still
	// runs (drawn from the same seeded source as FailRate). The message is
	// settled by the better of the two answers: a final one if either is.
	// It lets tests show that a flow runs a duplicated hop's node once; 0
	// in normal use.
	DuplicateRate float64
	// CallbackAttempts bounds attempts to post a callback (default 3).
	CallbackAttempts int
	// CallbackTimeout bounds one callback attempt (default 10s).
	CallbackTimeout time.Duration
	// CallbackGuard refuses callbacks to the stack's internal services
	// (nil: none refused): such a callback is logged and not made, and the
	// call it reports on is settled as usual.
	CallbackGuard *callbackguard.Guard
	// Registerer receives the worker's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// TracerProvider traces message processing (nil: no-op).
	TracerProvider trace.TracerProvider
	// Logger receives worker events (nil: discarded).
	Logger *slog.Logger
}

// Worker consumes the faas-request stream, each function's subject through
// a lane of its own (see lanes.go).
type Worker struct {
	opts   WorkerOptions
	js     jetstream.JetStream
	stream jetstream.Stream
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	slots  *fairSlots
	// stopping ends when Close is called; stop ends it.
	stopping context.Context
	stop     context.CancelFunc
	lanesMu  sync.Mutex
	lanes    map[string]*lane // by subject
	laneWG   sync.WaitGroup   // the lanes and watch
	wg       sync.WaitGroup   // the calls in flight
	calls    *runner          // runs them

	failMu  sync.Mutex
	failRNG *rand.Rand
	// callbackClient is Client checked by CallbackGuard.
	callbackClient *http.Client

	inflight    prometheus.Gauge
	redelivered prometheus.Counter
	processed   *prometheus.CounterVec
	callbacks   *prometheus.CounterVec
}

// NewWorker opens a lane (a durable consumer) for each function with
// calls in the stream, and starts consuming; it opens more as calls of
// other functions arrive.
func NewWorker(ctx context.Context, js jetstream.JetStream, opts WorkerOptions) (*Worker, error) {
	if opts.GatewayURL == "" && opts.Handler == nil {
		return nil, errors.New("queue: WorkerOptions.GatewayURL or Handler is required")
	}
	opts = opts.withDefaults()
	stream, err := js.Stream(ctx, queuemsg.StreamName)
	if err != nil {
		return nil, fmt.Errorf("queue: stream %s: %w", queuemsg.StreamName, err)
	}
	if err := dropSharedConsumer(ctx, js); err != nil {
		return nil, err
	}
	w := newWorker(opts, js, stream)
	if opts.Registerer != nil {
		if err := w.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	if err := w.discover(ctx); err != nil {
		w.stop()
		_ = w.Close(ctx)
		return nil, err
	}
	w.laneWG.Add(1)
	go w.watch()
	return w, nil
}

// withDefaults fills in the documented defaults (GatewayURL loses its
// trailing slashes).
func (opts WorkerOptions) withDefaults() WorkerOptions {
	opts.GatewayURL = strings.TrimRight(opts.GatewayURL, "/")
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.AtMostOnce {
		opts.Concurrency = 1
	}
	if opts.MaxAckPending <= 0 {
		opts.MaxAckPending = 1000
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 10
	}
	if opts.InitialRetryWait <= 0 {
		opts.InitialRetryWait = time.Second
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = time.Minute
	}
	if opts.CallbackAttempts <= 0 {
		opts.CallbackAttempts = 3
	}
	if opts.CallbackTimeout <= 0 {
		opts.CallbackTimeout = 10 * time.Second
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return opts
}

// newWorker is a Worker on stream with its collectors created (not yet
// registered) and no lane open yet.
func newWorker(opts WorkerOptions, js jetstream.JetStream, stream jetstream.Stream) *Worker {
	stopping, stop := context.WithCancel(context.Background())
	return &Worker{
		opts: opts, js: js, stream: stream,
		tracer:   opts.TracerProvider.Tracer("github.com/faas-flow/faas-flow/gateway/queue"),
		prop:     propagation.TraceContext{},
		slots:    newFairSlots(opts.Concurrency),
		stopping: stopping, stop: stop,
		calls:   newRunner(stopping),
		lanes:   map[string]*lane{},
		failRNG: rand.New(rand.NewPCG(opts.FailSeed, opts.FailSeed^0x51ed)),

		callbackClient: opts.CallbackGuard.Client(opts.Client),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "faasflow_queue_inflight", Help: "Async requests being processed by the queue worker.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "faasflow_queue_redeliveries_total", Help: "Messages received more than once (NAK retries and AckWait expiries).",
		}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasflow_queue_processed_total", Help: "Queue messages handled, by function and outcome (ack, retry, failed, dropped, busy: answered 429 and waiting to be made again).",
		}, []string{"function_name", "outcome"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faasflow_queue_callbacks_total", Help: "Callback posts, by outcome (ok, failed, refused).",
		}, []string{"outcome"}),
	}
}

// register registers the worker's collectors on reg, with two gauges read
// from the lanes' consumers at scrape time: the messages not yet delivered
// and those delivered but not acked.
func (w *Worker) register(reg prometheus.Registerer) error {
	pending := w.consumerGauge("faasflow_queue_pending",
		"Async requests waiting in the stream for the queue worker (not yet delivered).",
		func(pending, _ uint64) float64 { return float64(pending) })
	ackPending := w.consumerGauge("faasflow_queue_ack_pending",
		"Async requests delivered but not yet acked (in flight or waiting to retry).",
		func(_, ackPending uint64) float64 { return float64(ackPending) })
	for _, c := range []prometheus.Collector{w.inflight, w.redelivered, w.processed, w.callbacks, pending, ackPending} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("queue: register metrics: %w", err)
		}
	}
	return nil
}

// consumerGauge is a gauge of the lanes' backlog, asked for at scrape time
// within a second; -1 when it cannot be had.
func (w *Worker) consumerGauge(name, help string, figure func(pending, ackPending uint64) float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pending, ackPending, err := w.backlog(ctx)
		if err != nil {
			return -1
		}
		return figure(pending, ackPending)
	})
}

// result is a function's answer to a queued call (err: no answer).
type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// handle makes the call msg carries, holding t, and settles it: a NAK with
// backoff when the answer is retryable and attempts remain; otherwise the
// callback (if any), then an ack, or a term when the last attempt failed
// too. A 429 spends no attempt (see callPatiently).
func (w *Worker) handle(msg jetstream.Msg, t *turn) {
	received := time.Now()
	meta, err := msg.Metadata()
	if err != nil {
		w.opts.Logger.Error("queue: message without metadata", "err", err)
		_ = msg.Term()
		return
	}
	if meta.NumDelivered > 1 {
		w.redelivered.Inc()
	}
	req, err := queuemsg.Decode(msg.Data())
	if err != nil {
		w.opts.Logger.Error("queue: dropping undecodable message", "err", err, "seq", meta.Sequence.Stream)
		w.processed.WithLabelValues("", "dropped").Inc()
		_ = msg.TermWithReason("undecodable")
		return
	}
	ctx := w.prop.Extract(context.Background(), propagation.HeaderCarrier(http.Header(msg.Headers())))
	callID := req.Header.Get(api.HeaderCallID)
	ctx, span := w.tracer.Start(ctx, "queue.process "+req.Function, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("faas.function", req.Function), attribute.String("faas.call_id", callID),
			attribute.Int64("messaging.delivery_count", int64(meta.NumDelivered))))
	defer span.End()

	w.inflight.Inc()
	defer w.inflight.Dec()
	if w.opts.AtMostOnce {
		w.deliverOnce(ctx, msg, req, callID, received)
		return
	}
	res := w.callPatiently(ctx, msg, req, t, int(meta.NumDelivered))
	retry := retryable(res)
	// A call still answered 429 when the worker stops is put back, never
	// given up: its function was busy, not failing.
	final := int(meta.NumDelivered) >= w.opts.MaxDeliver && res.status != http.StatusTooManyRequests
	if retry && !final {
		delay := w.backoff(int(meta.NumDelivered))
		if res.status == http.StatusServiceUnavailable || res.status == http.StatusTooManyRequests {
			if d, ok := retryAfter(res.header.Get("Retry-After"), time.Now()); ok {
				delay = d
			}
		}
		span.SetAttributes(attribute.Int("faas.status", res.status), attribute.String("queue.retry_in", delay.String()))
		w.opts.Logger.Info("queue: retrying", "function", req.Function, "call_id", callID, "status", res.status, "err", res.err, "attempt", meta.NumDelivered, "in", delay)
		w.processed.WithLabelValues(req.Function, "retry").Inc()
		if err := msg.NakWithDelay(delay); err != nil {
			w.opts.Logger.Warn("queue: nak", "err", err)
		}
		return
	}
	status := res.status
	if res.err != nil {
		status = http.StatusServiceUnavailable
		span.RecordError(res.err)
	}
	if status >= 400 {
		span.SetStatus(codes.Error, fmt.Sprintf("function answered %d", status))
	}
	span.SetAttributes(attribute.Int("faas.status", status))
	if req.CallbackURL != nil && req.CallbackURL.Host != "" {
		w.callback(ctx, req, callID, status, res, received)
	}
	if retry {
		w.processed.WithLabelValues(req.Function, "failed").Inc()
		w.opts.Logger.Warn("queue: giving up", "function", req.Function, "call_id", callID, "status", status, "attempts", meta.NumDelivered)
		_ = msg.TermWithReason(fmt.Sprintf("failed after %d attempts (status %d)", meta.NumDelivered, status))
		return
	}
	w.processed.WithLabelValues(req.Function, "ack").Inc()
	if err := msg.Ack(); err != nil {
		w.opts.Logger.Warn("queue: ack", "err", err)
	}
}

// deliverOnce is the at-most-once delivery of msg: acknowledged first, then
// called once, whatever the outcome.
func (w *Worker) deliverOnce(ctx context.Context, msg jetstream.Msg, req queuemsg.Request, callID string, received time.Time) {
	if err := msg.Ack(); err != nil {
		w.opts.Logger.Warn("queue: ack", "err", err)
	}
	res := w.call(ctx, req)
	status := res.status
	if res.err != nil {
		status = http.StatusServiceUnavailable
	}
	outcome := "ack"
	if retryable(res) {
		outcome = "failed"
		w.opts.Logger.Warn("queue: call failed; delivering at most once, it is not retried",
			"function", req.Function, "call_id", callID, "status", status, "err", res.err)
	}
	w.processed.WithLabelValues(req.Function, outcome).Inc()
	if req.CallbackURL != nil && req.CallbackURL.Host != "" {
		w.callback(ctx, req, callID, status, res, received)
	}
}

// call invokes the function of req, unless FailRate makes it fail; when
// DuplicateRate makes it a duplicated call, twice at once.
func (w *Worker) call(ctx context.Context, req queuemsg.Request) result {
	if w.draw(w.opts.FailRate) {
		return result{status: http.StatusBadGateway, header: http.Header{}, body: []byte("call failed on purpose (queue fail rate)")}
	}
	if !w.draw(w.opts.DuplicateRate) {
		return w.invoke(ctx, req)
	}
	var both [2]result
	var wg sync.WaitGroup
	for k := range both {
		wg.Add(1)
		go func() { defer wg.Done(); both[k] = w.invoke(ctx, req) }()
	}
	wg.Wait()
	w.opts.Logger.Debug("queue: call made twice on purpose (queue duplicate rate)",
		"function", req.Function, "status", both[0].status, "duplicate_status", both[1].status)
	if retryable(both[0]) && !retryable(both[1]) {
		return both[1]
	}
	return both[0]
}

// retryable reports whether res asks for the call to be made again: no
// answer, a 5xx or a 429.
func retryable(res result) bool {
	return res.err != nil || res.status >= 500 || res.status == http.StatusTooManyRequests
}

// draw reports, with probability rate, that a fault applies to the next
// call (always when rate is 1 or more, never when it is 0 or less).
func (w *Worker) draw(rate float64) bool {
	switch {
	case rate <= 0:
		return false
	case rate >= 1:
		return true
	}
	w.failMu.Lock()
	defer w.failMu.Unlock()
	return w.failRNG.Float64() < rate
}

// heartbeat sends in-progress acks so a long call is not redelivered.
func (w *Worker) heartbeat(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(max(w.opts.AckWait/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

// invoke calls the queued request's function through the gateway, with the
// queued headers (less the hop-by-hop ones) and the trace context.
func (w *Worker) invoke(ctx context.Context, req queuemsg.Request) result {
	path := req.Path
	if path == "" {
		path = "/"
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	base := w.opts.GatewayURL
	if base == "" {
		base = "http://gateway"
	}
	u := base + "/function/" + strings.Trim(req.Function, "/") + path
	if req.QueryString != "" {
		u += "?" + req.QueryString
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return result{err: fmt.Errorf("build request: %w", err)}
	}
	for k, v := range req.Header {
		hr.Header[k] = append([]string(nil), v...)
	}
	for _, h := range hopHeaders {
		hr.Header.Del(h)
	}
	hr.Header.Set("User-Agent", "faasflow/queue-worker")
	w.prop.Inject(ctx, propagation.HeaderCarrier(hr.Header))
	if w.opts.Handler != nil {
		return w.dispatch(hr)
	}
	resp, err := w.opts.Client.Do(hr)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{err: fmt.Errorf("read response: %w", err)}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}
}

// dispatch serves hr with the in-process gateway handler.
func (w *Worker) dispatch(hr *http.Request) result {
	hr.RemoteAddr = "127.0.0.1:0"
	hr.RequestURI = hr.URL.RequestURI()
	rec := &responseBuffer{header: http.Header{}}
	w.opts.Handler.ServeHTTP(rec, hr)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return result{status: rec.status, header: rec.header, body: rec.body.Bytes()}
}

// responseBuffer is the http.ResponseWriter of an in-process dispatch.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// backoff is exponential with equal jitter: between half and all of
// InitialRetryWait*2^(attempt-1), capped at MaxRetryWait.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.opts.InitialRetryWait
	for i := 1; i < attempt && d < w.opts.MaxRetryWait; i++ {
		d *= 2
	}
	d = min(d, w.opts.MaxRetryWait)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}
