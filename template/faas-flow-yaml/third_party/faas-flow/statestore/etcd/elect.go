package etcd

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/faas-flow/faas-flow/sdk"
)

var _ sdk.Elector = (*Store)(nil)

// electionTTL is the TTL, in seconds, of the session behind a leadership:
// a leader that dies is replaced within about this long.
const electionTTL = 10

// Lead implements sdk.Elector with an etcd election under
// <KeyPrefix>elections/<name>: it blocks until this process is the leader
// (campaigning behind the others, in order) or ctx ends. The returned
// context ends when the session's lease is lost (the process could not
// reach etcd for electionTTL seconds) or ctx ends; release resigns.
func (s *Store) Lead(ctx context.Context, name string) (context.Context, func(), error) {
	session, err := concurrency.NewSession(s.cli, concurrency.WithTTL(electionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: election %s: %w", s.where, name, unavailable(err))
	}
	e := concurrency.NewElection(session, s.key("elections/"+name))
	host, _ := os.Hostname()
	if err := e.Campaign(ctx, host+"/"+strconv.Itoa(os.Getpid())); err != nil {
		_ = session.Close()
		return nil, nil, fmt.Errorf("%s: election %s: %w", s.where, name, unavailable(err))
	}
	lead, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-session.Done():
		case <-lead.Done():
		}
		cancel()
	}()
	release := func() {
		cancel()
		rctx, rcancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
		defer rcancel()
		_ = e.Resign(rctx)
		_ = session.Close()
	}
	return lead, release, nil
}

// unavailable marks err as the store being out of reach, unless it is the
// caller's own cancellation.
func unavailable(err error) error {
	if err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return fmt.Errorf("%w: %w", sdk.ErrStoreUnavailable, err)
}
