package runtime

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/transport/callbackguard"
)

// ErrNotifierBusy is returned by Notify when the delivery queue is full.
var ErrNotifierBusy = errors.New("callback queue full")

// CallbackNotifier delivers completion callbacks: a POST of the request's
// result to its X-Faas-Flow-Callback-Url with the headers X-Faas-Flow-Reqid,
// X-Faas-Flow-State, X-Faas-Flow-Name, X-Faas-Flow-Error (failed requests)
// and, when a key is set, X-Faas-Flow-Signature (see SignCallback), signed
// anew for every attempt. Deliveries run in the background, retried with backoff on
// connection errors, 408, 429 and 5xx, a bounded number of times. It is an
// engine.Notifier.
type CallbackNotifier struct {
	client   *http.Client
	key      []byte
	attempts int
	timeout  time.Duration
	log      *slog.Logger

	queue chan engine.Completion
	wg    sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
}

// NotifierOptions configure a CallbackNotifier.
type NotifierOptions struct {
	Client *http.Client
	// Key signs the body; empty sends no signature (insecure mode).
	Key []byte
	// Attempts per callback (default 5); Timeout per attempt (default 10s).
	Attempts int
	Timeout  time.Duration
	// Workers deliver concurrently (default 4); Queue bounds the callbacks
	// waiting for a worker (default 1024).
	Workers int
	Queue   int
	Logger  *slog.Logger
}

// NewCallbackNotifier starts the delivery workers. Close stops them.
func NewCallbackNotifier(o NotifierOptions) *CallbackNotifier {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &CallbackNotifier{
		client: o.Client, key: append([]byte(nil), o.Key...), attempts: o.Attempts, timeout: o.Timeout,
		log: o.Logger, queue: make(chan engine.Completion, o.Queue), stop: make(chan struct{}),
	}
	for i := 0; i < o.Workers; i++ {
		n.wg.Add(1)
		go n.work()
	}
	return n
}

// Notify queues c for delivery and returns at once.
func (n *CallbackNotifier) Notify(_ context.Context, c engine.Completion) error {
	c.Result = append([]byte(nil), c.Result...)
	select {
	case <-n.stop:
		return errors.New("callback notifier closed")
	default:
	}
	select {
	case n.queue <- c:
		return nil
	default:
		return fmt.Errorf("%w: callback for request %s dropped", ErrNotifierBusy, c.RequestID)
	}
}

// Close stops accepting callbacks and waits for queued ones to be delivered
// (or to give up) until ctx ends.
func (n *CallbackNotifier) Close(ctx context.Context) error {
	n.once.Do(func() { close(n.stop) })
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("callbacks still in flight: %w", ctx.Err())
	}
}

func (n *CallbackNotifier) work() {
	defer n.wg.Done()
	for {
		select {
		case c := <-n.queue:
			n.deliver(c)
		case <-n.stop:
			// Drain what is queued, then exit.
			for {
				select {
				case c := <-n.queue:
					n.deliver(c)
				default:
					return
				}
			}
		}
	}
}

// Sign returns the X-Faas-Flow-Body-Signature value of body for key.
//
// Deprecated: it signs the body alone, so a callback can be replayed or
// relabelled; receivers check X-Faas-Flow-Signature with VerifyCallback.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether sig is the X-Faas-Flow-Body-Signature of
// body under key (constant-time compare).
//
// Deprecated: use VerifyCallback on X-Faas-Flow-Signature.
func VerifySignature(key, body []byte, sig string) bool {
	return len(key) > 0 && hmac.Equal([]byte(sig), []byte(Sign(key, body)))
}

func (n *CallbackNotifier) deliver(c engine.Completion) {
	// Total budget: every attempt's timeout plus the backoff between them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n.attempts)*(n.timeout+30*time.Second))
	defer cancel()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 500*time.Millisecond, 30*time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		again, err := n.post(ctx, c)
		if err != nil && !again {
			err = backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(uint(max(n.attempts, 1))), backoff.WithMaxElapsedTime(0))
	if err != nil {
		n.log.Warn("completion callback not delivered", "request", c.RequestID, "url", redactURL(c.URL), "err", err)
		return
	}
	n.log.Debug("completion callback delivered", "request", c.RequestID, "state", c.State)
}

func (n *CallbackNotifier) post(ctx context.Context, c engine.Completion) (bool, error) {
	actx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.URL, bytes.NewReader(c.Result))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(HeaderRequestID, c.RequestID)
	req.Header.Set(HeaderState, c.State)
	req.Header.Set(HeaderFlow, c.Flow)
	if c.Error != "" {
		req.Header.Set(HeaderError, headerSafe(c.Error))
	}
	if len(n.key) > 0 {
		req.Header.Set(HeaderSignature, SignCallback(n.key, time.Now(), c.RequestID, c.State, c.Result))
		req.Header.Set(HeaderBodySignature, Sign(n.key, c.Result))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// A destination the callback guard refuses stays refused.
		return !errors.Is(err, callbackguard.ErrRefused), err
	}
	ex := readExcerpt(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	return transientStatus(resp.StatusCode), fmt.Errorf("callback answered %d: %s", resp.StatusCode, ex)
}

// headerSafe makes s usable as a header value: one line, printable ASCII,
// at most 1 KiB.
func headerSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 1024 {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}
