package runtime

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Completion callbacks are signed so that a receiver can tell a genuine,
// fresh callback about this request's end from a forged, replayed or
// relabelled one:
//
//	X-Faas-Flow-Signature: t=<unix seconds>,v1=<hex>
//
// where <hex> is the HMAC-SHA256, keyed with the secret
// faasflow-hmac-secret, of "<t>.<request id>.<state>.<body>" (the request
// id and state are those of the X-Faas-Flow-Reqid and X-Faas-Flow-State
// headers). A receiver recomputes it, compares in constant time, and
// refuses a t older (or newer) than its replay window, CallbackWindow by
// default. The body-only signature of earlier versions is still sent, as
// X-Faas-Flow-Body-Signature, for one more release.

// CallbackWindow is the replay window VerifyCallback is usually given: a
// callback signed longer ago, or later than now by as much, is refused.
const CallbackWindow = 5 * time.Minute

// ErrCallbackSignature is wrapped by VerifyCallback's errors.
var ErrCallbackSignature = errors.New("callback signature rejected")

// SignCallback returns the X-Faas-Flow-Signature value of a callback sent
// at for request id, ended in state, with body.
func SignCallback(key []byte, at time.Time, id, state string, body []byte) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + callbackMAC(key, t, id, state, body)
}

func callbackMAC(key []byte, t, id, state string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t + "." + id + "." + state + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyCallback checks header, a callback's X-Faas-Flow-Signature, against
// the callback's request id, state and body under key, and that it was
// signed within window of now. The error wraps ErrCallbackSignature.
func VerifyCallback(key []byte, header, id, state string, body []byte, now time.Time, window time.Duration) error {
	var t, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v1 == "" || len(key) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex> and a key", ErrCallbackSignature)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > window || -age > window {
		return fmt.Errorf("%w: signed %s from now, outside the window of %s", ErrCallbackSignature, age.Round(time.Second), window)
	}
	if !hmac.Equal([]byte(v1), []byte(callbackMAC(key, t, id, state, body))) {
		return fmt.Errorf("%w: it does not match this request id, state and body", ErrCallbackSignature)
	}
	return nil
}
