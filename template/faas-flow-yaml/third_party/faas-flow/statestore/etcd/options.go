package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults applied by New to zero-valued options.
const (
	DefaultKeyPrefix      = "faasflow/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultMaxAttempts    = 4
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = time.Second
	// listPageSize is how many keys one List request fetches; pages are read
	// at one revision, so a List is still a consistent snapshot.
	listPageSize = 1000
)

// Options configure a Store. The zero value of every field means its default.
type Options struct {
	// Endpoints are the etcd client URLs ("http://host:2379",
	// "https://host:2379") or host:port pairs, which use TLS when TLS or
	// TLSConfig is set. Required.
	Endpoints []string
	// Username and Password authenticate against etcd's auth system.
	// Leave both empty when auth is disabled.
	Username, Password string
	// TLS names PEM files for a TLS connection. Ignored when TLSConfig is set.
	TLS *TLSFiles
	// TLSConfig is used as-is for the client connection when not nil.
	TLSConfig *tls.Config
	// SerializableReads serves Get and List from the contacted member's
	// applied state instead of confirming leadership through raft first
	// (about 3x faster). Only correct for a single-member cluster, such as
	// the embedded etcd of the local gateway: with several members a read
	// could miss a write acknowledged by another member.
	SerializableReads bool
	// DialTimeout bounds New: connecting, authenticating and the start-up
	// probe. Default 5s.
	DialTimeout time.Duration
	// RequestTimeout bounds each store call, retries included. Default 5s.
	RequestTimeout time.Duration
	// KeyPrefix is prepended to every key. Default "faasflow/". Several
	// deployments can share one etcd with different prefixes.
	KeyPrefix string
	// Retry controls retries of transient failures within RequestTimeout.
	Retry Retry
	// LeaseWindow is how long one lease is reused for keys written with the
	// same ttl; such keys live up to LeaseWindow (plus rounding to whole
	// seconds) longer than asked. Zero means ttl/10, at least 1s, at most 1m.
	LeaseWindow time.Duration
	// Logger receives the etcd client's logs. Default: discarded.
	Logger *zap.Logger
}

// TLSFiles names PEM files for a TLS connection to etcd.
type TLSFiles struct {
	// CAFile is the CA bundle that signed the server certificates. Empty:
	// the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and key, for servers
	// that require client certificates. Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server certificate.
	ServerName string
	// InsecureSkipVerify disables server certificate verification (tests
	// only).
	InsecureSkipVerify bool
}

// Retry configures retries of transient errors (no leader, unavailable
// connection, server timeouts). Reads and deletes are retried on any
// transient error; Create and CompareAndSwap only when the request provably
// was not applied.
type Retry struct {
	// MaxAttempts is the number of tries per call, first included.
	// Default 4; 1 disables retries.
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; it doubles up to
	// MaxBackoff, with jitter. Defaults 50ms and 1s.
	InitialBackoff, MaxBackoff time.Duration
}

func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Retry.MaxAttempts <= 0 {
		o.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if o.Retry.InitialBackoff <= 0 {
		o.Retry.InitialBackoff = DefaultInitialBackoff
	}
	if o.Retry.MaxBackoff <= 0 {
		o.Retry.MaxBackoff = DefaultMaxBackoff
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// tlsConfig returns the client TLS configuration, or nil for plaintext.
func (o Options) tlsConfig() (*tls.Config, error) {
	if o.TLSConfig != nil {
		return o.TLSConfig.Clone(), nil
	}
	if o.TLS == nil {
		for _, ep := range o.Endpoints {
			if strings.HasPrefix(ep, "https://") {
				return &tls.Config{MinVersion: tls.VersionTLS12}, nil
			}
		}
		return nil, nil
	}
	f := o.TLS
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", f.CAFile)
		}
		c.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("TLS CertFile and KeyFile must be set together")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// endpoints returns the endpoints with an explicit scheme, refusing
// combinations that would silently drop TLS.
func (o Options) endpoints(useTLS bool) ([]string, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("no endpoints configured")
	}
	out := make([]string, len(o.Endpoints))
	for i, ep := range o.Endpoints {
		ep = strings.TrimSpace(ep)
		switch {
		case ep == "":
			return nil, errors.New("empty endpoint")
		case strings.HasPrefix(ep, "http://"):
			if useTLS {
				return nil, fmt.Errorf("endpoint %s is http:// but TLS is configured; use https://", ep)
			}
		case strings.HasPrefix(ep, "https://"):
		case strings.Contains(ep, "://"):
			return nil, fmt.Errorf("endpoint %s: unsupported scheme (want http:// or https://)", ep)
		case useTLS:
			ep = "https://" + ep
		default:
			ep = "http://" + ep
		}
		out[i] = ep
	}
	return out, nil
}
