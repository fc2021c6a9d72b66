package minio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	minio "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/faas-flow/faas-flow/datastore/internal/keypath"
	"github.com/faas-flow/faas-flow/sdk"
)

var _ sdk.Expirer = (*Store)(nil)

// ExpireAfter implements sdk.Expirer with a bucket lifecycle rule: the
// server deletes the objects under prefix (which must end in "/") once they
// are older than age, rounded up to whole days (the unit of S3 lifecycle
// rules). The rule's id is derived from the prefix, so calling again
// updates it; the bucket's other rules are kept.
func (s *Store) ExpireAfter(ctx context.Context, prefix string, age time.Duration) error {
	if !strings.HasSuffix(prefix, "/") || age <= 0 {
		return fmt.Errorf("%s: expire %q after %s: want a prefix ending in / and a positive age", s.where, prefix, age)
	}
	name := s.opts.KeyPrefix + keypath.EncodePrefix(prefix)
	rule := lifecycle.Rule{
		ID:         ExpiryRuleID(name),
		Status:     "Enabled",
		RuleFilter: lifecycle.Filter{Prefix: name},
		Expiration: lifecycle.Expiration{Days: lifecycle.ExpirationDays(max(1, int(math.Ceil(age.Hours()/24))))},
	}
	return s.call(ctx, "expire", prefix, func(ctx context.Context) error {
		cfg, err := s.cli.GetBucketLifecycle(ctx, s.opts.Bucket)
		if minio.ToErrorResponse(err).Code == "NoSuchLifecycleConfiguration" {
			cfg, err = lifecycle.NewConfiguration(), nil
		}
		if err != nil {
			return err
		}
		rules := cfg.Rules[:0]
		for _, r := range cfg.Rules {
			if r.ID == rule.ID {
				if r.RuleFilter.Prefix == rule.RuleFilter.Prefix && r.Expiration.Days == rule.Expiration.Days && r.Status == rule.Status {
					return nil // already in place
				}
				continue
			}
			rules = append(rules, r)
		}
		cfg.Rules = append(rules, rule)
		return s.cli.SetBucketLifecycle(ctx, s.opts.Bucket, cfg)
	})
}

// ExpiryRuleID is the id of the lifecycle rule ExpireAfter keeps for the
// object name prefix name.
func ExpiryRuleID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "faasflow-expire-" + hex.EncodeToString(sum[:8])
}
