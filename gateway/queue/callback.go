package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/transport/callbackguard"
	"github.com/faas-flow/faas-flow/transport/queuemsg"
)

// callback posts the result to the request's callback URL, up to
// CallbackAttempts times with a doubling wait between attempts. A callback
// CallbackGuard refuses (one to the stack's own services, or redirected
// there) is logged and not tried again.
func (w *Worker) callback(ctx context.Context, req queuemsg.Request, callID string, status int, res result, received time.Time) {
	wait := 200 * time.Millisecond
	for attempt := 1; attempt <= w.opts.CallbackAttempts; attempt++ {
		err := w.postCallback(ctx, req, callID, status, res, received)
		if err == nil {
			w.callbacks.WithLabelValues("ok").Inc()
			return
		}
		if errors.Is(err, callbackguard.ErrRefused) {
			w.callbacks.WithLabelValues("refused").Inc()
			w.opts.Logger.Error("queue: callback refused: its URL reaches an internal service of the stack (faasflow up --callback-allow allows a destination)",
				"function", req.Function, "call_id", callID, "url", req.CallbackURL.Redacted(), "err", err)
			return
		}
		w.opts.Logger.Warn("queue: callback failed", "url", req.CallbackURL.Redacted(), "attempt", attempt, "err", err)
		if attempt < w.opts.CallbackAttempts {
			time.Sleep(wait)
			wait *= 2
		}
	}
	w.callbacks.WithLabelValues("failed").Inc()
}

// postCallback makes one callback attempt: the function's body and headers
// plus X-Call-Id, X-Function-Status, X-Function-Name and X-Duration-Seconds.
// A 5xx answer is an error.
func (w *Worker) postCallback(ctx context.Context, req queuemsg.Request, callID string, status int, res result, received time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.CallbackTimeout)
	defer cancel()
	var body []byte
	if res.err == nil {
		body = res.body
	}
	cr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.CallbackURL.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range res.header {
		cr.Header[k] = append([]string(nil), v...)
	}
	for _, h := range hopHeaders {
		cr.Header.Del(h)
	}
	if callID != "" {
		cr.Header.Set(api.HeaderCallID, callID)
	}
	cr.Header.Set(api.HeaderFunctionStatus, strconv.Itoa(status))
	cr.Header.Set(api.HeaderFunctionName, req.Function)
	cr.Header.Set(api.HeaderDuration, fmt.Sprintf("%f", time.Since(received).Seconds()))
	w.prop.Inject(ctx, propagation.HeaderCarrier(cr.Header))
	resp, err := w.callbackClient.Do(cr)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("callback answered %d", resp.StatusCode)
	}
	return nil
}
