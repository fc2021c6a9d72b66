package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch implements sdk.Watcher with an etcd watch. It returns once etcd
// has confirmed the watch (within Options.RequestTimeout), so that every
// change after that is reported. All watches of a Store share one gRPC
// stream.
func (s *Store) Watch(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("watch", key, err)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.cli.Watch(wctx, s.key(key), clientv3.WithCreatedNotify())
	timer := time.NewTimer(s.opts.RequestTimeout)
	defer timer.Stop()
	select {
	case resp, ok := <-wch:
		if !ok || !resp.Created || resp.Err() != nil {
			cancel()
			err := resp.Err()
			if err == nil {
				err = ctx.Err()
			}
			return nil, s.unavailable("watch", key, fmt.Errorf("watch not created: %w", err))
		}
	case <-timer.C:
		cancel()
		return nil, s.unavailable("watch", key, fmt.Errorf("watch not created within %v", s.opts.RequestTimeout))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		for resp := range wch {
			if len(resp.Events) > 0 || resp.Canceled || resp.Err() != nil {
				return
			}
		}
	}()
	return done, nil
}
