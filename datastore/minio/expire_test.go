package minio_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/faas-flow/faas-flow/datastore/minio"
	"github.com/faas-flow/faas-flow/internal/testenv"
)

// rules renders the bucket's lifecycle rules as "id prefix days".
func rules(t *testing.T, srv *testenv.MinIOServer, bucket string) []string {
	t.Helper()
	cfg, err := rawClient(t, srv).GetBucketLifecycle(context.Background(), bucket)
	if err != nil {
		t.Fatalf("read the lifecycle: %v", err)
	}
	var out []string
	for _, r := range cfg.Rules {
		prefix := r.RuleFilter.Prefix
		if prefix == "" {
			prefix = r.Prefix
		}
		out = append(out, r.ID+" "+prefix+" "+time.Duration(int(r.Expiration.Days)*24*int(time.Hour)).String())
	}
	sort.Strings(out)
	return out
}

func TestExpireAfterKeepsOneLifecycleRulePerPrefixBesideOthers(t *testing.T) {
	srv := testenv.MinIO(t)
	o := options(srv)
	o.Bucket, o.KeyPrefix, o.BucketLookup = "expiring", "ff/", "path"
	s := newStore(t, o)
	ctx := context.Background()
	other := lifecycle.NewConfiguration()
	other.Rules = []lifecycle.Rule{{ID: "keep-me", Status: "Enabled", RuleFilter: lifecycle.Filter{Prefix: "other/"},
		Expiration: lifecycle.Expiration{Days: 30}}}
	if err := rawClient(t, srv).SetBucketLifecycle(ctx, "expiring", other); err != nil {
		t.Fatal(err)
	}

	work, results := minio.ExpiryRuleID("ff/w/flow/"), minio.ExpiryRuleID("ff/r/flow/")
	steps := []struct {
		prefix string
		age    time.Duration
		want   []string
	}{
		{"w/flow/", 25 * time.Hour, []string{"keep-me other/ 720h0m0s", work + " ff/w/flow/ 48h0m0s"}},
		{"w/flow/", 25 * time.Hour, []string{"keep-me other/ 720h0m0s", work + " ff/w/flow/ 48h0m0s"}},
		{"w/flow/", 49 * time.Hour, []string{"keep-me other/ 720h0m0s", work + " ff/w/flow/ 72h0m0s"}},
		{"r/flow/", 2 * time.Hour, []string{"keep-me other/ 720h0m0s", results + " ff/r/flow/ 24h0m0s", work + " ff/w/flow/ 72h0m0s"}},
	}
	for _, st := range steps {
		if err := s.ExpireAfter(ctx, st.prefix, st.age); err != nil {
			t.Fatalf("ExpireAfter(%q, %s): %v", st.prefix, st.age, err)
		}
		want := append([]string(nil), st.want...)
		sort.Strings(want)
		if got := rules(t, srv, "expiring"); !slices.Equal(got, want) {
			t.Fatalf("after ExpireAfter(%q, %s) the rules are\n%q\nwant\n%q", st.prefix, st.age, got, want)
		}
	}
	if err := s.ExpireAfter(ctx, "w/f", time.Hour); err == nil {
		t.Error("a prefix without a trailing / was accepted")
	}
}
