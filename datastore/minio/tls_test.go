package minio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/internal/testenv"
	"github.com/faas-flow/faas-flow/sdk"
)

func TestHTTPSWithAPrivateCA(t *testing.T) {
	srv := testenv.MinIOTLS(t)
	ctx := context.Background()

	o := options(srv)
	o.Endpoint, o.CAFile = srv.URL(), srv.CAFile // https:// turns TLS on
	s := newStore(t, o)
	if err := s.Put(ctx, "w/f/r/h/x", []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "w/f/r/h/x"); err != nil || string(v) != "over TLS" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := s.DeletePrefix(ctx, "w/f/r/"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "w/f/r/h/x"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get after DeletePrefix = %v, want ErrNotFound", err)
	}

	tests := []struct {
		name   string
		change func(*minio.Options)
		want   string
	}{
		{"the system roots do not know the test CA", func(o *minio.Options) { o.CAFile = "" }, "certificate"},
		{"plain HTTP to a TLS port", func(o *minio.Options) { o.Endpoint, o.CAFile = srv.Endpoint, "" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(srv)
			o.Endpoint = srv.URL()
			o.DialTimeout, o.MaxRetries = 5*time.Second, 1
			tt.change(&o)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := minio.New(cctx, o)
			if err == nil {
				st.Close()
				t.Fatal("New succeeded; want an error")
			}
			if errors.Is(err, minio.ErrAuth) || errors.Is(err, sdk.ErrStoreUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want a configuration error mentioning %q, neither ErrAuth nor ErrStoreUnavailable", err, tt.want)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("New took %s to fail; a configuration error is not worth waiting out the dial timeout", took)
			}
		})
	}
}
