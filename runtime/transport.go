package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewHTTPClient returns the client the runtime uses for every outbound call:
// one pooled transport (connections to the gateway are reused), dial and TLS
// handshake timeouts, and no overall timeout (each call is bounded by its
// context).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// ErrForward is wrapped by GatewayTransport errors: the gateway did not
// accept a hop.
var ErrForward = errors.New("gateway did not accept the hop")

// GatewayTransport carries hops to the flow through the OpenFaaS gateway's
// asynchronous endpoint: POST <Gateway>/async-function/<Flow>/flow/<id>/forward.
// The gateway queues the call and its queue worker later invokes the flow's
// /flow/<id>/forward route.
type GatewayTransport struct {
	Gateway string // base URL, no trailing slash
	Flow    string
	Client  *http.Client
	// Timeout bounds one Forward, retries included (default 15s).
	Timeout time.Duration
}

// HopURL returns the URL a hop of request id is posted to.
func (t *GatewayTransport) HopURL(id string) string {
	return t.Gateway + "/async-function/" + url.PathEscape(t.Flow) + "/flow/" + url.PathEscape(id) + "/forward"
}

// Forward implements engine.Transport. 200 and 202 mean accepted. Connection
// errors, 429 and 5xx are retried with backoff until Timeout; other statuses
// fail at once.
func (t *GatewayTransport) Forward(ctx context.Context, requestID string, hop []byte) error {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := t.HopURL(requestID)
	err := retry(ctx, 100*time.Millisecond, 2*time.Second, 0, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(hop))
		if err != nil {
			return false, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderRequestID, requestID)
		resp, err := t.client().Do(req)
		if err != nil {
			return true, fmt.Errorf("forward hop to %s: %w", target, err)
		}
		excerpt := readExcerpt(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted:
			return false, nil
		case transientStatus(resp.StatusCode):
			return true, fmt.Errorf("forward hop to %s: gateway answered %d: %s", target, resp.StatusCode, excerpt)
		}
		return false, fmt.Errorf("forward hop to %s: gateway answered %d: %s", target, resp.StatusCode, excerpt)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForward, err)
	}
	return nil
}

func (t *GatewayTransport) client() *http.Client {
	if t.Client != nil {
		return t.Client
	}
	return http.DefaultClient
}

func transientStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// retry calls f until it succeeds, returns a non-retryable error, ctx ends
// or attempts (0 = unlimited) are used up. Delays grow from initial to max
// with jitter.
func retry(ctx context.Context, initial, max time.Duration, attempts int, f func() (retryable bool, err error)) error {
	delay := initial
	for n := 1; ; n++ {
		again, err := f()
		if err == nil || !again {
			return err
		}
		if attempts > 0 && n >= attempts {
			return fmt.Errorf("gave up after %d attempts: %w", n, err)
		}
		wait := delay/2 + rand.N(delay/2+1)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(err, ctx.Err())
		case <-timer.C:
		}
		if delay *= 2; delay > max {
			delay = max
		}
	}
}

// readExcerpt reads the first 512 bytes of a body for an error message and
// drains (a bounded amount of) the rest so the connection can be reused.
func readExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	return excerpt(b)
}

func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
