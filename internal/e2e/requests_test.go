package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/client"
)

// TestListingAFlowsRequestsOnTheLocalStack starts requests of picky, some
// of which fail, and lists them through the gateway with the CLI's
// client: newest first, by state, by start time and in pages, with the
// gateway's login and not without it.
func TestListingAFlowsRequestsOnTheLocalStack(t *testing.T) {
	broken := t.TempDir()
	t.Setenv("FAASFLOW_E2E_BREAK_DIR", broken)
	for _, item := range []string{"x", "y"} {
		if err := os.WriteFile(filepath.Join(broken, item), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startStack(t, filepath.Join("testdata", "redrive.yml"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := s.Client()

	var ids []string // in start order
	inputs := []string{"a", "x,y", "b", "c", "x,y"}
	for _, in := range inputs {
		ids = append(ids, s.start(t, "/function/picky", in))
	}
	var failed, succeeded []string // newest first
	for i := len(ids) - 1; i >= 0; i-- {
		if inputs[i] == "x,y" {
			s.waitState(t, "picky", ids[i], "failed", time.Minute)
			failed = append(failed, ids[i])
		} else {
			s.waitState(t, "picky", ids[i], "succeeded", time.Minute)
			succeeded = append(succeeded, ids[i])
		}
	}
	newestFirst := make([]string, len(ids))
	for i, id := range ids {
		newestFirst[len(ids)-1-i] = id
	}
	list := func(q client.RequestsQuery) client.RequestsPage {
		t.Helper()
		page, err := c.Requests(ctx, "picky", q)
		if err != nil {
			t.Fatalf("Requests(%+v): %v", q, err)
		}
		return page
	}
	idsOf := func(p client.RequestsPage) string {
		out := make([]string, len(p.Requests))
		for i, r := range p.Requests {
			out[i] = r.ID
		}
		return strings.Join(out, ",")
	}

	if got := list(client.RequestsQuery{}); idsOf(got) != strings.Join(newestFirst, ",") || got.NextCursor != "" {
		t.Fatalf("every request: %s (cursor %q), want %s", idsOf(got), got.NextCursor, strings.Join(newestFirst, ","))
	}
	page := list(client.RequestsQuery{States: []string{"failed"}})
	if idsOf(page) != strings.Join(failed, ",") {
		t.Fatalf("failed requests: %s, want %s", idsOf(page), strings.Join(failed, ","))
	}
	for _, r := range page.Requests {
		if r.Ended == nil || !strings.Contains(r.Error, "branches failed") {
			t.Fatalf("failed request listed as %+v", r)
		}
	}
	if got := list(client.RequestsQuery{States: []string{"succeeded"}}); idsOf(got) != strings.Join(succeeded, ",") {
		t.Fatalf("succeeded requests: %s, want %s", idsOf(got), strings.Join(succeeded, ","))
	}
	third := list(client.RequestsQuery{}).Requests[2].Started // of ids[2]
	if got := list(client.RequestsQuery{Since: third}); idsOf(got) != strings.Join(newestFirst[:3], ",") {
		t.Fatalf("since the third start: %s, want %s", idsOf(got), strings.Join(newestFirst[:3], ","))
	}

	var paged []string
	q := client.RequestsQuery{Limit: 2}
	for pages := 1; ; pages++ {
		p := list(q)
		paged = append(paged, idsOf(p))
		if p.NextCursor == "" {
			if pages != 3 {
				t.Fatalf("%d pages of 2 for 5 requests", pages)
			}
			break
		}
		q.Cursor = p.NextCursor
	}
	if strings.Join(paged, ",") != strings.Join(newestFirst, ",") {
		t.Fatalf("pages of two: %v, want %s", paged, strings.Join(newestFirst, ","))
	}

	if _, err := c.Requests(ctx, "picky", client.RequestsQuery{Limit: 501}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("limit 501: %v, want the flow's 400", err)
	}
	anon := client.New(s.URL(), "", "")
	if _, err := anon.Requests(ctx, "picky", client.RequestsQuery{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("listing without the gateway's login: %v, want 401", err)
	}
	if r := s.do(t, http.MethodGet, "/function/picky/flow/requests?state=failed", nil, nil); r.status != http.StatusOK {
		t.Fatalf("GET /function/picky/flow/requests: %d %s", r.status, r.body)
	}
}
