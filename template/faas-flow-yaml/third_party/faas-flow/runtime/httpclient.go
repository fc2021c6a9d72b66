package runtime

import (
	"io"
	"net"
	"net/http"
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

// transientStatus reports a status worth trying again later.
func transientStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// readExcerpt reads the first 512 bytes of a body for an error message and
// drains (a bounded amount of) the rest so the connection can be reused.
func readExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	return excerpt(b)
}

// excerpt is b on one line, at most 300 characters, for an error message.
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
