package runtime_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/internal/fakegateway"
)

// listing is the decoded answer of GET /flow/requests.
type listing struct {
	Requests []struct {
		ID         string     `json:"id"`
		State      string     `json:"state"`
		Started    time.Time  `json:"started"`
		Ended      *time.Time `json:"ended"`
		DurationMS *int64     `json:"duration_ms"`
		FailedNode string     `json:"failed_node"`
		Error      string     `json:"error"`
	} `json:"requests"`
	NextCursor string `json:"next_cursor"`
}

func (l listing) ids() []string {
	out := make([]string, len(l.Requests))
	for i, r := range l.Requests {
		out[i] = r.ID
	}
	return out
}

func listRequests(t *testing.T, base, query string) listing {
	t.Helper()
	r := fakegateway.Do(t, http.MethodGet, base+"/flow/requests?"+query, nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /flow/requests?%s: %d %s %s", query, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var l listing
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("GET /flow/requests?%s: %v: %s", query, err, r.Body)
	}
	return l
}

func TestRequestsRouteListsTheFlowsRequestsNewestFirstWithFiltersAndPages(t *testing.T) {
	bf := &breakableFlow{}
	f := startFlow(t, bf.define, nil)
	start := func() string {
		t.Helper()
		return fakegateway.Do(t, http.MethodPost, f.base+"/", []byte("x")).JSON(t)["request_id"].(string)
	}
	before := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	first := start()
	fakegateway.WaitState(t, f.base, first, "succeeded")
	second := start()
	fakegateway.WaitState(t, f.base, second, "succeeded")
	bf.broken.Store(true)
	failed := start()
	fakegateway.WaitState(t, f.base, failed, "failed")
	newestFirst := []string{failed, second, first}

	var all listing
	waitFor(t, func() bool { // the failed node is known once the request has drained
		all = listRequests(t, f.base, "")
		return len(all.Requests) == 3 && all.Requests[0].FailedNode != ""
	})
	if got := all.ids(); strings.Join(got, ",") != strings.Join(newestFirst, ",") || all.NextCursor != "" {
		t.Fatalf("listing = %v cursor %q, want %v and no cursor", got, all.NextCursor, newestFirst)
	}
	top := all.Requests[0]
	if top.State != "failed" || top.FailedNode != "b" || !strings.Contains(top.Error, "b is broken") || top.Ended == nil || top.DurationMS == nil {
		t.Fatalf("failed request listed as %+v", top)
	}
	if ok := all.Requests[1]; ok.State != "succeeded" || ok.Error != "" || ok.FailedNode != "" || ok.Ended == nil {
		t.Fatalf("succeeded request listed as %+v", ok)
	}

	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"one state", "state=failed", []string{failed}},
		{"several states", "state=" + url.QueryEscape("succeeded, failed"), newestFirst},
		{"a state no request is in", "state=paused", []string{}},
		{"since before every start", "since=" + url.QueryEscape(before), newestFirst},
		{"since after every start", "since=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), []string{}},
		{"since with a filter", "state=succeeded&since=" + url.QueryEscape(before), []string{second, first}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := listRequests(t, f.base, tc.query)
			if strings.Join(got.ids(), ",") != strings.Join(tc.want, ",") {
				t.Fatalf("?%s = %v, want %v", tc.query, got.ids(), tc.want)
			}
		})
	}

	t.Run("pages follow the cursor to the end", func(t *testing.T) {
		p1 := listRequests(t, f.base, "limit=2")
		if strings.Join(p1.ids(), ",") != strings.Join(newestFirst[:2], ",") || p1.NextCursor == "" {
			t.Fatalf("first page = %v cursor %q", p1.ids(), p1.NextCursor)
		}
		p2 := listRequests(t, f.base, "limit=2&cursor="+url.QueryEscape(p1.NextCursor))
		if strings.Join(p2.ids(), ",") != first || p2.NextCursor != "" {
			t.Fatalf("second page = %v cursor %q, want [%s] and no cursor", p2.ids(), p2.NextCursor, first)
		}
	})
}

func TestRequestsRouteRejectsBadParametersWith400(t *testing.T) {
	f := startFlow(t, failingFlow, nil)
	tests := []struct {
		query, mention string
	}{
		{"state=bogus", `unknown state \"bogus\"`}, // as JSON quotes it
		{"state=running,done", `unknown state \"done\"`},
		{"since=yesterday", "since="},
		{"since=2026-12-06", "since="},
		{"limit=0", "limit="},
		{"limit=501", "limit="},
		{"limit=ten", "limit="},
		{"cursor=" + url.QueryEscape("not a cursor!"), "cursor"},
		{"cursor=c29tZXRoaW5n", "cursor"}, // base64, but not one a listing issued
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := fakegateway.Do(t, http.MethodGet, f.base+"/flow/requests?"+tc.query, nil)
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.mention) {
				t.Fatalf("?%s: %d %s; want 400 mentioning %q", tc.query, r.Status, r.Body, tc.mention)
			}
		})
	}
	if r := fakegateway.Do(t, http.MethodPost, f.base+"/flow/requests", nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /flow/requests: %d %s; want 405", r.Status, r.Body)
	}
}
