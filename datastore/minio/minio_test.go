package minio_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/datastore/storetest"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
)

func options(srv *testenv.MinIOServer) minio.Options {
	return minio.Options{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

func newStore(t testing.TB, opts minio.Options) *minio.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := minio.New(ctx, opts)
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient talks to the server directly, to inspect what the store wrote.
func rawClient(t testing.TB, srv *testenv.MinIOServer) *miniogo.Client {
	t.Helper()
	c, err := miniogo.New(srv.Endpoint, &miniogo.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func objects(t testing.TB, c *miniogo.Client, bucket, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	for o := range c.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list objects: %v", o.Err)
		}
		names = append(names, o.Key)
	}
	sort.Strings(names)
	return names
}

func TestConformance(t *testing.T) {
	srv := testenv.MinIO(t)
	raw := rawClient(t, srv)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) sdk.DataStore {
		o := options(srv)
		o.KeyPrefix = fmt.Sprintf("suite-%d/", n.Add(1))
		return newStore(t, o)
	}, storetest.Options{
		Leftovers: func(t *testing.T, st sdk.DataStore) []string {
			// The cleanup subtest's store is the latest one created.
			return objects(t, raw, minio.DefaultBucket, fmt.Sprintf("suite-%d/", n.Load()))
		},
	})
	// However many stores and requests the suite used: one bucket.
	buckets, err := raw.ListBuckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(buckets) != 1 || buckets[0].Name != minio.DefaultBucket {
		t.Fatalf("buckets after the suite: %v; want only %q (never a bucket per request)", buckets, minio.DefaultBucket)
	}
}

func TestObjectLayoutAndConfiguredBucket(t *testing.T) {
	srv := testenv.MinIO(t)
	raw := rawClient(t, srv)
	o := options(srv)
	o.Bucket, o.KeyPrefix, o.BucketLookup = "my-flows", "faasflow/", "path"
	s := newStore(t, o)
	ctx := context.Background()
	for _, k := range []string{"flowA/req1/data/n1", "flowA/req1/../x", "flowA/req1/a b", "flowA/req1/data/n1/part"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	got := objects(t, raw, "my-flows", "")
	want := []string{"faasflow/flowA/req1/%2E./x~", "faasflow/flowA/req1/a%20b~", "faasflow/flowA/req1/data/n1/part~", "faasflow/flowA/req1/data/n1~"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A second instance finds the bucket and shares it.
	s2 := newStore(t, o)
	if v, err := s2.Get(ctx, "flowA/req1/a b"); err != nil || string(v) != "flowA/req1/a b" {
		t.Fatalf("second store Get = %q, %v", v, err)
	}
	if err := s2.DeletePrefix(ctx, "flowA/req1/"); err != nil {
		t.Fatal(err)
	}
	if left := objects(t, raw, "my-flows", ""); len(left) != 0 {
		t.Fatalf("objects left after DeletePrefix: %q", left)
	}
}

func TestDeletePrefixBeyondOneBatch(t *testing.T) {
	srv := testenv.MinIO(t)
	raw := rawClient(t, srv)
	s := newStore(t, options(srv))
	ctx := context.Background()
	const n = 1100 // more than one multi-object delete (1000)
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- s.Put(ctx, fmt.Sprintf("f/r/item/%04d", i), []byte("x"))
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "f/r2/keep", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "f/r/"); err != nil {
		t.Fatal(err)
	}
	if left := objects(t, raw, minio.DefaultBucket, ""); strings.Join(left, ",") != "f/r2/keep~" {
		t.Fatalf("after DeletePrefix(f/r/): %d objects, first %q", len(left), left[:min(3, len(left))])
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := minio.Options{Endpoint: "127.0.0.1:1", AccessKey: "a", SecretKey: "b"}
	cases := []struct {
		name   string
		mutate func(*minio.Options)
		want   string
	}{
		{"no endpoint", func(o *minio.Options) { o.Endpoint = "" }, "no endpoint"},
		{"no credentials", func(o *minio.Options) { o.SecretKey = "" }, "no credentials"},
		{"endpoint with path", func(o *minio.Options) { o.Endpoint = "http://h:9000/bucket" }, "path is not supported"},
		{"unknown scheme", func(o *minio.Options) { o.Endpoint = "ftp://h" }, "unsupported scheme"},
		{"tiny part size", func(o *minio.Options) { o.PartSize = 1 << 20 }, "5 MiB"},
		{"bad lookup", func(o *minio.Options) { o.BucketLookup = "virtual" }, "BucketLookup"},
		{"prefix without slash", func(o *minio.Options) { o.KeyPrefix = "ff" }, "KeyPrefix"},
		{"prefix escaping", func(o *minio.Options) { o.KeyPrefix = "../" }, "KeyPrefix"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.mutate(&o)
			_, err := minio.New(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestInvalidKeysAreRejected(t *testing.T) {
	srv := testenv.MinIO(t)
	s := newStore(t, options(srv))
	for _, k := range []string{"", "/abs", "a//b", "dir/"} {
		if err := s.Put(context.Background(), k, []byte("x")); err == nil || errors.Is(err, sdk.ErrStoreUnavailable) {
			t.Errorf("Put(%q) = %v; want an invalid-key error", k, err)
		}
	}
}
