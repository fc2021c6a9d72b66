package minio

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	minio "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faas-flow/faas-flow/datastore/internal/keypath"
	"github.com/faas-flow/faas-flow/sdk"
)

// ErrAuth reports that the server rejected the credentials or denied an
// operation the store needs. It is a configuration error and does not wrap
// sdk.ErrStoreUnavailable.
var ErrAuth = errors.New("S3 credentials rejected or permission denied")

// probePrefix names the objects New writes to check permissions. Keys never
// encode to a segment starting with '.', so it cannot meet a real key.
const probePrefix = ".faasflow-probe/"

// Store is an sdk.DataStore on one S3 bucket. It is safe for concurrent use.
type Store struct {
	cli *minio.Client
	// put writes objects without minio-go's own retries: a retry of
	// minio-go seeks the body it sent while the transport of the failed
	// attempt may still read it. Put retries with a fresh reader instead.
	put   *minio.Client
	tr    *http.Transport
	opts  Options
	where string // "minio data store (endpoint, bucket b)"
}

var (
	_ sdk.DataStore = (*Store)(nil)
	_ sdk.Closer    = (*Store)(nil)
)

// New connects to the S3 endpoint, creates the bucket if it is missing, and
// checks, within Options.DialTimeout, that the credentials may write, read
// and delete objects in it. Every start-up failure is one clear error.
func New(ctx context.Context, opts Options) (*Store, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("minio data store: %w", err)
	}
	host, secure, err := o.endpoint()
	if err != nil {
		return nil, fmt.Errorf("minio data store: %w", err)
	}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	s := &Store{opts: o, where: fmt.Sprintf("minio data store (%s://%s, bucket %s)", scheme, host, o.Bucket)}

	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       time.Minute,
		TLSHandshakeTimeout:   o.DialTimeout,
		ExpectContinueTimeout: 5 * time.Second,
		DisableCompression:    true, // objects are opaque bytes
	}
	if secure {
		if tr.TLSClientConfig, err = o.tlsConfig(); err != nil {
			return nil, fmt.Errorf("minio data store: %w", err)
		}
	}
	lookup := map[string]minio.BucketLookupType{
		"auto": minio.BucketLookupAuto, "path": minio.BucketLookupPath, "dns": minio.BucketLookupDNS,
	}[o.BucketLookup]
	client := func(retries int) (*minio.Client, error) {
		c, err := minio.New(host, &minio.Options{
			Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, o.SessionToken),
			Secure:       secure,
			Region:       o.Region,
			BucketLookup: lookup,
			Transport:    tr,
			MaxRetries:   retries,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.where, err)
		}
		c.SetAppInfo("faas-flow", "1")
		return c, nil
	}
	if s.cli, err = client(o.MaxRetries); err != nil {
		return nil, err
	}
	if s.put, err = client(1); err != nil {
		return nil, err
	}
	s.tr = tr

	ictx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	if err := startupStep(ictx, s.ensureBucket); err != nil {
		return nil, s.startError(ctx, host, "check bucket", err)
	}
	if err := startupStep(ictx, s.probe); err != nil {
		return nil, s.startError(ctx, host, "write/delete check", err)
	}
	return s, nil
}

// startupStep runs step until it succeeds, fails for a reason other than
// unavailability, or ctx ends: a server that is still starting (MinIO answers
// 503 "not initialized" for a moment) gets until DialTimeout.
func startupStep(ctx context.Context, step func(context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		err := step(ctx)
		if err == nil || !isUnavailable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (s *Store) ensureBucket(ctx context.Context) error {
	exists, err := s.cli.BucketExists(ctx, s.opts.Bucket)
	if err != nil || exists {
		return err
	}
	err = s.cli.MakeBucket(ctx, s.opts.Bucket, minio.MakeBucketOptions{Region: s.opts.Region})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil // created concurrently by another instance
	} else if code == "BucketAlreadyExists" {
		return fmt.Errorf("bucket name %q is taken by another account: %w", s.opts.Bucket, err)
	}
	return err
}

// probe writes, reads and deletes one small object so that missing
// permissions show up at start-up, not on the first request.
func (s *Store) probe(ctx context.Context) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := s.opts.KeyPrefix + probePrefix + hex.EncodeToString(b[:])
	body := []byte("faas-flow permission check")
	if _, err := s.put.PutObject(ctx, s.opts.Bucket, name, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	obj, err := s.cli.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, obj)
		_ = obj.Close()
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	if err := s.cli.RemoveObject(ctx, s.opts.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// startError turns a start-up failure into one clear error.
func (s *Store) startError(ctx context.Context, host, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", s.where, step, ctx.Err())
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidSecurity":
		return fmt.Errorf("%s: credentials rejected (%s: %s); check the access key and secret key (s3-access-key, s3-secret-key): %w",
			s.where, resp.Code, resp.Message, ErrAuth)
	case "AccessDenied":
		return fmt.Errorf("%s: access denied during %s: the credentials need s3:GetObject, s3:PutObject, s3:DeleteObject, "+
			"s3:ListBucket (and s3:CreateBucket if the bucket is missing): %w: %w", s.where, step, ErrAuth, err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("%s: the server's TLS certificate is not trusted; give the CA that signed it (a CA file) or use the name it was issued for: %w", s.where, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: not usable within %v: %s: %w", s.where, s.opts.DialTimeout, diagnose(host, err), sdk.ErrStoreUnavailable)
	}
	return fmt.Errorf("%s: %s: %w", s.where, step, err)
}

// diagnose says why an endpoint did not answer.
func diagnose(host string, err error) string {
	conn, derr := net.DialTimeout("tcp", host, time.Second)
	if derr != nil {
		return fmt.Sprintf("nothing listening at %s (%v)", host, derr)
	}
	_ = conn.Close()
	return err.Error()
}

// Close releases idle connections.
func (s *Store) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

func (s *Store) object(key string) (string, error) {
	leaf, err := keypath.Leaf(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.where, err)
	}
	return s.opts.KeyPrefix + leaf, nil
}

// Put implements sdk.DataStore.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	return s.call(ctx, "put", key, func(ctx context.Context) error {
		wait := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			_, err := s.put.PutObject(ctx, s.opts.Bucket, name, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
				ContentType: "application/octet-stream",
				PartSize:    s.opts.PartSize,
			})
			if err == nil || attempt > s.opts.MaxRetries || !isUnavailable(err) {
				return err
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
		}
	})
}

// Get implements sdk.DataStore.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.call(ctx, "get", key, func(ctx context.Context) error {
		// One GET: the body and its size come from the same response,
		// so a concurrent overwrite cannot mix versions.
		body, info, _, err := minio.Core{Client: s.cli}.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer body.Close()
		if info.Size < 0 {
			return fmt.Errorf("object %s has no size", name)
		}
		buf := make([]byte, info.Size)
		if _, err := io.ReadFull(body, buf); err != nil {
			return err
		}
		out = buf
		return nil
	})
	return out, err
}

// Delete implements sdk.DataStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.object(key)
	if err != nil {
		return err
	}
	return s.call(ctx, "delete", key, func(ctx context.Context) error {
		return s.cli.RemoveObject(ctx, s.opts.Bucket, name, minio.RemoveObjectOptions{})
	})
}

// DeletePrefix implements sdk.DataStore: it lists the objects under the
// prefix and removes them with multi-object deletes (1000 per request).
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	name := s.opts.KeyPrefix + keypath.EncodePrefix(prefix)
	return s.call(ctx, "delete prefix", prefix, func(ctx context.Context) error {
		var listErr error
		objects := func(yield func(minio.ObjectInfo) bool) {
			for obj := range s.cli.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: name, Recursive: true}) {
				if obj.Err != nil {
					listErr = obj.Err
					return
				}
				if !yield(obj) {
					return
				}
			}
		}
		results, err := s.cli.RemoveObjectsWithIter(ctx, s.opts.Bucket, iter.Seq[minio.ObjectInfo](objects), minio.RemoveObjectsOptions{})
		if err != nil {
			return err
		}
		var rmErr error
		for r := range results {
			if r.Err != nil && rmErr == nil && minio.ToErrorResponse(r.Err).Code != "NoSuchKey" {
				rmErr = fmt.Errorf("remove %s: %w", r.ObjectName, r.Err)
			}
		}
		if listErr != nil {
			return listErr
		}
		if rmErr != nil {
			return rmErr
		}
		return ctx.Err()
	})
}

// call runs fn under the per-call timeout and maps its error. minio-go
// retries transient failures itself (Options.MaxRetries).
func (s *Store) call(ctx context.Context, op, key string, fn func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %s %q: %w", s.where, op, key, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	err := fn(cctx)
	if err == nil {
		return nil
	}
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s: %s %q: %w", s.where, op, key, ctx.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %s %q: %w: %w", s.where, op, key, sdk.ErrStoreUnavailable, ctx.Err())
	case cctx.Err() != nil:
		return fmt.Errorf("%s: %s %q: %w: no answer within %v: %w", s.where, op, key, sdk.ErrStoreUnavailable, s.opts.RequestTimeout, err)
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey":
		return fmt.Errorf("%s: key %q: %w", s.where, key, sdk.ErrNotFound)
	case "NoSuchBucket":
		return fmt.Errorf("%s: %s %q: bucket %q no longer exists: %w", s.where, op, key, s.opts.Bucket, err)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: %s %q: %w: %w", s.where, op, key, ErrAuth, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%s: %s %q: %w: %w", s.where, op, key, sdk.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("%s: %s %q: %w", s.where, op, key, err)
}

// isUnavailable reports network failures, timeouts and server-side errors
// that mean "try again later".
func isUnavailable(err error) bool {
	// A certificate the client does not trust does not become trusted by
	// waiting: that is configuration (the CA file, the endpoint's name).
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	if resp := minio.ToErrorResponse(err); resp.StatusCode >= 500 || resp.Code == "SlowDown" ||
		resp.Code == "XMinioServerNotInitialized" || resp.Code == "ServiceUnavailable" || resp.Code == "RequestTimeout" {
		return true
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "EOF") || strings.Contains(msg, "broken pipe")
}
