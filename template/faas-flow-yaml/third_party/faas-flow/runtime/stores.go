package runtime

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/faas-flow/faas-flow/datastore/local"
	"github.com/faas-flow/faas-flow/datastore/memory"
	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/sdk"
	"github.com/faas-flow/faas-flow/statestore/etcd"
	statememory "github.com/faas-flow/faas-flow/statestore/memory"
)

// ErrStoreConfig is wrapped by errors about choosing or opening a store.
var ErrStoreConfig = errors.New("cannot open store")

// openStores returns the state and data stores: the handler's overrides
// when they return a store, else the configured ones. owned lists the
// stores this function created (closed on shutdown).
func openStores(ctx context.Context, cfg Config, o *Options) (st sdk.StateStore, ds sdk.DataStore, owned []sdk.Closer, err error) {
	defer func() {
		if err != nil {
			for _, c := range owned {
				_ = c.Close()
			}
			owned = nil
		}
	}()
	if o.StateStore != nil {
		s, err := callStoreFunc(o.StateStore, "DefineStateStore/OverrideStateStore")
		if err != nil {
			return nil, nil, owned, err
		}
		st = s
	}
	if st == nil {
		s, err := openStateStore(ctx, cfg)
		if err != nil {
			return nil, nil, owned, err
		}
		st = s
		if c, ok := s.(sdk.Closer); ok {
			owned = append(owned, c)
		}
	}
	if o.DataStore != nil {
		d, err := callStoreFunc(o.DataStore, "DefineDataStore/OverrideDataStore")
		if err != nil {
			return nil, nil, owned, err
		}
		ds = d
	}
	if ds == nil {
		d, err := openDataStore(ctx, cfg)
		if err != nil {
			return nil, nil, owned, err
		}
		ds = d
		if c, ok := d.(sdk.Closer); ok {
			owned = append(owned, c)
		}
	}
	return st, ds, owned, nil
}

// callStoreFunc calls a handler's store function, turning a panic into an
// error and a typed nil (a nil *T in the interface) into nil.
func callStoreFunc[T any](f func() (T, error), name string) (store T, err error) {
	var zero T
	defer func() {
		if v := recover(); v != nil {
			store, err = zero, fmt.Errorf("%w: %s panicked: %v", ErrStoreConfig, name, v)
		}
	}()
	s, err := f()
	if err != nil {
		return zero, fmt.Errorf("%w: %s: %w", ErrStoreConfig, name, err)
	}
	if v := reflect.ValueOf(s); !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return zero, nil
	}
	return s, nil
}

func openStateStore(ctx context.Context, cfg Config) (sdk.StateStore, error) {
	switch cfg.StateStore {
	case StoreMemory:
		return statememory.New(), nil
	case StoreEtcd, "":
		opts := etcd.Options{
			Endpoints:      cfg.Etcd.Endpoints,
			Username:       cfg.Etcd.Username,
			Password:       cfg.Etcd.Password,
			DialTimeout:    cfg.Etcd.DialTimeout,
			RequestTimeout: cfg.Etcd.RequestTimeout,
			KeyPrefix:      cfg.Etcd.KeyPrefix,

			SerializableReads: cfg.Etcd.SerializableReads,
		}
		if cfg.Etcd.CAFile != "" || cfg.Etcd.CertFile != "" || cfg.Etcd.ServerName != "" {
			opts.TLS = &etcd.TLSFiles{
				CAFile: cfg.Etcd.CAFile, CertFile: cfg.Etcd.CertFile, KeyFile: cfg.Etcd.KeyFile,
				ServerName: cfg.Etcd.ServerName,
			}
		}
		s, err := etcd.New(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: etcd at %v (etcd_endpoints): %w", ErrStoreConfig, cfg.Etcd.Endpoints, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: unknown state_store %q", ErrStoreConfig, cfg.StateStore)
}

func openDataStore(ctx context.Context, cfg Config) (sdk.DataStore, error) {
	switch cfg.DataStore {
	case StoreMemory:
		return memory.New(), nil
	case StoreMinio, StoreS3, "":
		if cfg.S3.AccessKey == "" || cfg.S3.SecretKey == "" {
			return nil, fmt.Errorf("%w: data_store=%s needs the secrets s3-access-key and s3-secret-key (names set by s3_access_key_name, s3_secret_key_name)", ErrStoreConfig, cfg.DataStore)
		}
		lookup := "dns"
		if cfg.S3.PathStyle {
			lookup = "path"
		}
		d, err := minio.New(ctx, minio.Options{
			Endpoint: cfg.S3.URL, Secure: cfg.S3.TLS, CAFile: cfg.S3.CAFile, Region: cfg.S3.Region, BucketLookup: lookup,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Bucket: cfg.S3.Bucket,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %s at %s (s3_url), bucket %s: %w", ErrStoreConfig, cfg.DataStore, cfg.S3.URL, cfg.S3.Bucket, err)
		}
		return d, nil
	case StoreLocal:
		d, err := local.New(local.Options{Dir: cfg.DataDir})
		if err != nil {
			return nil, fmt.Errorf("%w: data_dir %s: %w", ErrStoreConfig, cfg.DataDir, err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: unknown data_store %q", ErrStoreConfig, cfg.DataStore)
}
