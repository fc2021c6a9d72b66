package minio_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
)

const (
	callTimeout = 2 * time.Second
	slack       = 2 * time.Second
)

func TestCallsFailFastWhenMinIOStopsAndRecoverAfterRestart(t *testing.T) {
	srv := testenv.MinIO(t)
	o := options(srv)
	o.RequestTimeout = callTimeout
	s := newStore(t, o)
	ctx := context.Background()
	old := bytes.Repeat([]byte("old-"), 1<<18) // 1 MiB
	if err := s.Put(ctx, "f/r/k", old); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	var wg sync.WaitGroup
	var mu sync.Mutex
	calls := map[string]func() error{
		"Put":          func() error { return s.Put(ctx, "f/r/k", bytes.Repeat([]byte("new-"), 1<<18)) },
		"Get":          func() error { _, err := s.Get(ctx, "f/r/k"); return err },
		"Delete":       func() error { return s.Delete(ctx, "f/r/other") },
		"DeletePrefix": func() error { return s.DeletePrefix(ctx, "f/x/") },
	}
	for name, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := call()
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				t.Errorf("%s succeeded with MinIO stopped", name)
				return
			}
			t.Logf("%s after %v: %v", name, took.Round(time.Millisecond), err)
			if !errors.Is(err, sdk.ErrStoreUnavailable) {
				t.Errorf("%s error %v does not wrap sdk.ErrStoreUnavailable", name, err)
			}
			if !strings.Contains(err.Error(), srv.Endpoint) {
				t.Errorf("%s error %q does not name the endpoint %s", name, err, srv.Endpoint)
			}
			if took > callTimeout+slack {
				t.Errorf("%s took %v with MinIO stopped; RequestTimeout is %v", name, took, callTimeout)
			}
		}()
	}
	wg.Wait()

	srv.Restart()
	got, err := s.Get(ctx, "f/r/k")
	if err != nil {
		t.Fatalf("Get after restart with the same store: %v", err)
	}
	if !bytes.Equal(got, old) {
		t.Fatalf("after restart the value is %d bytes, not the whole old value", len(got))
	}
	if err := s.Put(ctx, "f/r/k", []byte("after")); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
}

// TestPutInterruptedByAnOutageIsAllOrNothing stops MinIO while large values
// are being written; afterwards the key holds one whole value.
func TestPutInterruptedByAnOutageIsAllOrNothing(t *testing.T) {
	srv := testenv.MinIO(t)
	o := options(srv)
	o.RequestTimeout = 5 * time.Second
	o.PartSize = 5 << 20
	s := newStore(t, o)
	ctx := context.Background()
	const size = 24 << 20 // multipart: 5 parts
	values := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size), bytes.Repeat([]byte{'c'}, size)}
	if err := s.Put(ctx, "f/r/big", values[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, v := range values[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Put(ctx, "f/r/big", v) // may fail: the server is going away
		}()
	}
	time.Sleep(150 * time.Millisecond)
	srv.Stop()
	wg.Wait()
	srv.Restart()
	got, err := s.Get(ctx, "f/r/big")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	whole := false
	for _, v := range values {
		whole = whole || bytes.Equal(got, v)
	}
	if !whole {
		t.Fatalf("after an interrupted Put the key holds %d bytes that are no single written value", len(got))
	}
}

func TestNewFailsFastWithWrongCredentials(t *testing.T) {
	srv := testenv.MinIO(t)
	cases := []struct {
		name        string
		access, sec string
	}{
		{"wrong secret", srv.AccessKey, "wrong-secret-key"},
		{"unknown access key", "nobody", srv.SecretKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := options(srv)
			o.AccessKey, o.SecretKey = c.access, c.sec
			start := time.Now()
			_, err := minio.New(context.Background(), o)
			took := time.Since(start)
			if err == nil {
				t.Fatal("New succeeded with wrong credentials")
			}
			if !errors.Is(err, minio.ErrAuth) || errors.Is(err, sdk.ErrStoreUnavailable) || !strings.Contains(err.Error(), "credentials rejected") {
				t.Fatalf("New error = %v; want one ErrAuth error saying the credentials were rejected", err)
			}
			if took > 3*time.Second {
				t.Fatalf("New took %v to reject credentials", took)
			}
		})
	}
}

func TestNewFailsFastWhenNothingListens(t *testing.T) {
	srv := testenv.MinIO(t)
	srv.Stop()
	o := options(srv)
	o.DialTimeout = 2 * time.Second
	start := time.Now()
	_, err := minio.New(context.Background(), o)
	took := time.Since(start)
	if err == nil {
		t.Fatal("New succeeded with MinIO stopped")
	}
	if !errors.Is(err, sdk.ErrStoreUnavailable) || !strings.Contains(err.Error(), "nothing listening") || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("New error = %v; want ErrStoreUnavailable saying nothing listens at %s", err, srv.Endpoint)
	}
	if took > o.DialTimeout+slack {
		t.Fatalf("New took %v; DialTimeout is %v", took, o.DialTimeout)
	}
}
