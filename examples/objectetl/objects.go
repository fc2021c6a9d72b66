package function

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faas-flow/faas-flow/runtime"
	"github.com/faas-flow/faas-flow/statestore/etcd"
)

// ErrObjectNotFound is wrapped by Objects.Get for an object that does not
// exist.
var ErrObjectNotFound = errors.New("object not found")

// ErrObjectTooLarge is wrapped by Objects.Get for an object over the size
// it was given.
var ErrObjectTooLarge = errors.New("object too large")

// Objects reads the incoming objects and writes the outgoing ones.
type Objects interface {
	// Get returns the object, or an error wrapping ErrObjectNotFound, or
	// ErrObjectTooLarge when it holds more than max bytes.
	Get(ctx context.Context, bucket, key string, max int64) ([]byte, error)
	// Put writes the object (creating the bucket if needed).
	Put(ctx context.Context, bucket, key string, data []byte, contentType string) error
}

// S3Objects is Objects on MinIO or S3.
type S3Objects struct {
	Client *minio.Client
	// Region is the region of the buckets Put creates.
	Region string
}

// Get implements Objects.
func (s S3Objects) Get(ctx context.Context, bucket, key string, max int64) ([]byte, error) {
	obj, err := s.Client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, max+1))
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
			return nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrObjectNotFound)
		}
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s/%s holds more than %d bytes: %w", bucket, key, max, ErrObjectTooLarge)
	}
	return b, nil
}

// Put implements Objects.
func (s S3Objects) Put(ctx context.Context, bucket, key string, data []byte, contentType string) error {
	ok, err := s.Client.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	if !ok {
		err := s.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s.Region})
		if code := minio.ToErrorResponse(err).Code; err != nil && code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	_, err = s.Client.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Settings are the flow's own settings, from its environment.
type Settings struct {
	// OutputBucket receives the results (etl_output_bucket, default
	// outgoing).
	OutputBucket string
	// BatchSize is the number of records per foreach branch
	// (etl_batch_size, default 5000).
	BatchSize int
	// MaxObjectSize is the largest object read (etl_max_object_size in
	// bytes, default 16 MiB); a larger one is rejected whole.
	MaxObjectSize int64
}

// Defaults of Settings.
const (
	DefaultOutputBucket  = "outgoing"
	DefaultBatchSize     = 5000
	DefaultMaxObjectSize = 16 << 20
)

// SettingsFromEnv reads Settings from getenv, defaults filling the gaps.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{OutputBucket: DefaultOutputBucket, BatchSize: DefaultBatchSize, MaxObjectSize: DefaultMaxObjectSize}
	if v := getenv("etl_output_bucket"); v != "" {
		s.OutputBucket = v
	}
	if v := getenv("etl_batch_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("etl_batch_size %q: want a positive integer", v)
		}
		s.BatchSize = n
	}
	if v := getenv("etl_max_object_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return s, fmt.Errorf("etl_max_object_size %q: want a positive number of bytes", v)
		}
		s.MaxObjectSize = n
	}
	return s, nil
}

// Connect opens the flow's Deps with the flow function's own configuration
// (docs/configuration.md): the objects on the S3 endpoint of its data store
// (s3_url, s3_region, s3_tls, s3_ca_file and the secrets s3-access-key and
// s3-secret-key), the rules in its etcd (etcd_endpoints, etcd_key_prefix,
// etcd-username, etcd-password, TLS files).
func Connect(ctx context.Context, getenv func(string) string) (*Deps, error) {
	cfg, err := runtime.LoadConfig(getenv, nil)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	settings, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	client, err := s3Client(cfg.S3)
	if err != nil {
		return nil, err
	}
	opts := etcd.Options{
		Endpoints: cfg.Etcd.Endpoints, Username: cfg.Etcd.Username, Password: cfg.Etcd.Password,
		DialTimeout: cfg.Etcd.DialTimeout, RequestTimeout: cfg.Etcd.RequestTimeout, KeyPrefix: cfg.Etcd.KeyPrefix,
		SerializableReads: cfg.Etcd.SerializableReads,
	}
	if cfg.Etcd.CAFile != "" || cfg.Etcd.CertFile != "" || cfg.Etcd.ServerName != "" {
		opts.TLS = &etcd.TLSFiles{CAFile: cfg.Etcd.CAFile, CertFile: cfg.Etcd.CertFile, KeyFile: cfg.Etcd.KeyFile, ServerName: cfg.Etcd.ServerName}
	}
	rules, err := etcd.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("rules store: etcd at %v: %w", cfg.Etcd.Endpoints, err)
	}
	return &Deps{Objects: S3Objects{Client: client, Region: cfg.S3.Region}, Rules: rules, Settings: settings}, nil
}

func s3Client(c runtime.S3Config) (*minio.Client, error) {
	if c.AccessKey == "" || c.SecretKey == "" {
		return nil, errors.New("objects: the secrets s3-access-key and s3-secret-key are needed (and s3_url)")
	}
	endpoint := strings.TrimPrefix(strings.TrimPrefix(c.URL, "https://"), "http://")
	lookup := minio.BucketLookupDNS
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	o := &minio.Options{Creds: credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""), Secure: c.TLS, Region: c.Region, BucketLookup: lookup}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("objects: s3_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("objects: s3_ca_file %s holds no PEM certificate", c.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		o.Transport = tr
	}
	cl, err := minio.New(endpoint, o)
	if err != nil {
		return nil, fmt.Errorf("objects: s3_url %s: %w", c.URL, err)
	}
	return cl, nil
}

// lazyDeps opens Deps on first use and keeps them for the process; a
// failed open is tried again by the next caller.
type lazyDeps struct {
	mu   sync.Mutex
	deps *Deps
	open Open
}

func (l *lazyDeps) get(ctx context.Context) (*Deps, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deps != nil {
		return l.deps, nil
	}
	d, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	l.deps = d
	return d, nil
}
