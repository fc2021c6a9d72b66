package gatewayhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ErrNotAccepted is wrapped by Send errors: the gateway did not accept the
// hop.
var ErrNotAccepted = errors.New("gateway did not accept the hop")

// headerRequestID names the request on the hop's call, as on every call of
// the flow function.
const headerRequestID = "X-Faas-Flow-Reqid"

// Transport sends hops to Flow through the gateway at Gateway.
type Transport struct {
	Gateway string // base URL, no trailing slash
	Flow    string
	Client  *http.Client // default http.DefaultClient
	// Timeout bounds one Send, retries included (default 15s).
	Timeout time.Duration
}

// HopURL returns the URL a hop of request id is posted to.
func (t *Transport) HopURL(id string) string {
	return t.Gateway + "/async-function/" + url.PathEscape(t.Flow) + "/flow/" + url.PathEscape(id) + "/forward"
}

// Send implements engine.Transport. 200 and 202 mean accepted. Connection
// errors, 408, 429 and 5xx are retried with backoff until Timeout; other
// statuses fail at once.
func (t *Transport) Send(ctx context.Context, requestID string, hop []byte) error {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = t.post(ctx, requestID, hop)
		return struct{}{}, last
	}, backoff.WithBackOff(newBackOff()), backoff.WithMaxElapsedTime(0))
	if err != nil {
		if last != nil && !errors.Is(err, last) {
			err = errors.Join(last, err)
		}
		return fmt.Errorf("%w: %w", ErrNotAccepted, err)
	}
	return nil
}

// post makes one attempt; an error that is not worth retrying is wrapped
// with backoff.Permanent.
func (t *Transport) post(ctx context.Context, requestID string, hop []byte) error {
	target := t.HopURL(requestID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(hop))
	if err != nil {
		return backoff.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerRequestID, requestID)
	resp, err := t.client().Do(req)
	if err != nil {
		return fmt.Errorf("forward hop to %s: %w", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	err = fmt.Errorf("forward hop to %s: gateway answered %d: %s", target, resp.StatusCode, excerpt(resp.Body))
	if transient(resp.StatusCode) {
		return err
	}
	return backoff.Permanent(err)
}

func (t *Transport) client() *http.Client {
	if t.Client != nil {
		return t.Client
	}
	return http.DefaultClient
}

func newBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 2*time.Second
	return b
}

func transient(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// excerpt is the start of a body for an error message, on one line.
func excerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
