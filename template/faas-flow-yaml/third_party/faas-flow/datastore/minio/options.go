package minio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/datastore/internal/keypath"
)

// Defaults applied by New to zero-valued options.
const (
	DefaultBucket         = "faasflow"
	DefaultDialTimeout    = 10 * time.Second
	DefaultRequestTimeout = 2 * time.Minute
	DefaultPartSize       = 16 << 20
	DefaultMaxRetries     = 3
	minPartSize           = 5 << 20 // S3's minimum multipart part size
)

// Options configure a Store. The zero value of every field means its default.
type Options struct {
	// Endpoint is the S3 API address: "host:port", or a URL
	// "http://host:port" / "https://host" whose scheme decides TLS.
	// For AWS S3: "s3.amazonaws.com" or "s3.<region>.amazonaws.com"
	// with Secure. Required.
	Endpoint string
	// Secure uses HTTPS for an Endpoint given without a scheme.
	// Default false (MinIO on a private network); AWS needs true.
	Secure bool
	// Region of the bucket. Empty: discovered from the server (one extra
	// request, cached); MinIO uses "us-east-1".
	Region string
	// BucketLookup selects how the bucket is addressed: "auto" (default:
	// virtual-host style for AWS, path style otherwise), "path" or "dns".
	BucketLookup string
	// AccessKey and SecretKey authenticate requests (OpenFaaS secrets
	// s3-access-key and s3-secret-key). SessionToken is for temporary AWS
	// credentials. AccessKey and SecretKey are required.
	AccessKey, SecretKey, SessionToken string
	// CAFile is a PEM bundle of CAs trusted for HTTPS instead of the
	// system roots (for a private CA). Ignored when TLSConfig is set.
	CAFile string
	// TLSConfig is used as-is for HTTPS when not nil.
	TLSConfig *tls.Config
	// Bucket holds all data. Default "faasflow". Created when missing.
	Bucket string
	// KeyPrefix is prepended to every object name, e.g. "faasflow/" to
	// share a bucket. Default "". It must end with "/" and contain only
	// characters keys never need escaping for (A-Z a-z 0-9 - _ . /).
	KeyPrefix string
	// DialTimeout bounds New's checks and each TCP connect. Default 10s.
	DialTimeout time.Duration
	// RequestTimeout bounds each store call, retries and the transfer of
	// the whole value included. Default 2m.
	RequestTimeout time.Duration
	// MaxRetries is how often a failed request (network errors, 5xx,
	// throttling) is tried again within RequestTimeout: by minio-go for
	// reads and deletes, by the store, with the body sent afresh, for
	// writes. Default 3.
	MaxRetries int
	// PartSize is the multipart part size for large values; values up to it
	// are sent with one PUT. Default 16 MiB, minimum 5 MiB.
	PartSize uint64
}

func (o Options) withDefaults() Options {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.BucketLookup == "" {
		o.BucketLookup = "auto"
	}
	return o
}

// endpoint splits Endpoint into host[:port] and whether to use TLS.
func (o Options) endpoint() (host string, secure bool, err error) {
	ep := strings.TrimSpace(o.Endpoint)
	if ep == "" {
		return "", false, errors.New("no endpoint configured")
	}
	if !strings.Contains(ep, "://") {
		return strings.TrimSuffix(ep, "/"), o.Secure || o.TLSConfig != nil, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", false, fmt.Errorf("endpoint %q: %w", ep, err)
	}
	switch u.Scheme {
	case "http":
		if o.TLSConfig != nil {
			return "", false, fmt.Errorf("endpoint %s is http:// but a TLS config is set; use https://", ep)
		}
	case "https":
		secure = true
	default:
		return "", false, fmt.Errorf("endpoint %s: unsupported scheme (want http:// or https://)", ep)
	}
	if u.Path != "" && u.Path != "/" {
		return "", false, fmt.Errorf("endpoint %s: a path is not supported; give host:port", ep)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("endpoint %s has no host", ep)
	}
	return u.Host, secure, nil
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if o.TLSConfig != nil {
		return o.TLSConfig.Clone(), nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

func (o Options) validate() error {
	if o.AccessKey == "" || o.SecretKey == "" {
		return errors.New("no credentials configured: set the access key and secret key (OpenFaaS secrets s3-access-key, s3-secret-key)")
	}
	if o.PartSize < minPartSize {
		return fmt.Errorf("PartSize %d is below the S3 minimum of 5 MiB", o.PartSize)
	}
	switch o.BucketLookup {
	case "auto", "path", "dns":
	default:
		return fmt.Errorf("BucketLookup %q: want auto, path or dns", o.BucketLookup)
	}
	if p := o.KeyPrefix; p != "" {
		inner := strings.TrimSuffix(p, "/")
		enc, err := keypath.Encode(inner)
		if !strings.HasSuffix(p, "/") || err != nil || enc != inner {
			return fmt.Errorf("KeyPrefix %q must end with '/' and use only A-Z a-z 0-9 - _ . and / between non-empty segments", p)
		}
	}
	return nil
}
