package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	statemem "github.com/faas-flow/faas-flow/statestore/memory"
)

func listIDs(t *testing.T, e *engine.Engine, q engine.ListQuery) ([]string, string) {
	t.Helper()
	page, err := e.Requests(context.Background(), q)
	if err != nil {
		t.Fatalf("Requests(%+v): %v", q, err)
	}
	ids := make([]string, len(page.Requests))
	for i, r := range page.Requests {
		ids[i] = r.ID
	}
	return ids, page.NextCursor
}

// allPages follows the cursor from the first page to the last.
func allPages(t *testing.T, e *engine.Engine, q engine.ListQuery) (ids []string, pages int) {
	t.Helper()
	for {
		got, next := listIDs(t, e, q)
		ids, pages = append(ids, got...), pages+1
		if next == "" {
			return ids, pages
		}
		if pages > 20 {
			t.Fatalf("still a cursor after %d pages", pages)
		}
		q.Cursor = next
	}
}

func TestRequestsListsNewestFirstFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute)
	at := func(d time.Duration) { tt := t0.Add(d); f.now.Store(&tt) }

	at(0)
	succeeded := f.start(t)
	deliverAll(t, f.e, f.tr)
	at(time.Second)
	paused := f.start(t)
	if err := f.e.Pause(ctx, paused); err != nil {
		t.Fatal(err)
	}
	at(2 * time.Second)
	stopped := f.start(t)
	if err := f.e.Stop(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	at(3 * time.Second)
	running1 := f.start(t)
	at(4 * time.Second)
	running2 := f.start(t)
	all := []string{running2, running1, stopped, paused, succeeded}

	page, err := f.e.Requests(ctx, engine.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Requests) != 5 || page.NextCursor != "" {
		t.Fatalf("first page: %d requests, cursor %q", len(page.Requests), page.NextCursor)
	}
	if s := page.Requests[4]; s.ID != succeeded || s.State != engine.StateSucceeded || s.Ended == nil || !s.Started.Equal(t0) {
		t.Fatalf("succeeded request listed as %+v", s)
	}
	tests := []struct {
		name      string
		q         engine.ListQuery
		want      []string
		wantPages int
	}{
		{"everything, newest first", engine.ListQuery{}, all, 1},
		{"pages of two", engine.ListQuery{Limit: 2}, all, 3},
		{"pages of one", engine.ListQuery{Limit: 1}, all, 5},
		{"one state", engine.ListQuery{States: []string{engine.StateRunning}}, []string{running2, running1}, 1},
		{"two states", engine.ListQuery{States: []string{engine.StatePaused, engine.StateStopped}}, []string{stopped, paused}, 1},
		{"a state nobody is in", engine.ListQuery{States: []string{engine.StateFailed}}, nil, 1},
		{"since a start", engine.ListQuery{Since: t0.Add(2 * time.Second)}, []string{running2, running1, stopped}, 1},
		{"since a start, in pages", engine.ListQuery{Since: t0.Add(2 * time.Second), Limit: 2}, []string{running2, running1, stopped}, 2},
		{"since after every start", engine.ListQuery{Since: t0.Add(time.Hour)}, nil, 1},
		{"since and state in pages", engine.ListQuery{Since: t0.Add(time.Second), States: []string{engine.StateRunning, engine.StatePaused}, Limit: 2}, []string{running2, running1, paused}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := allPages(t, f.e, tc.q)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") || pages != tc.wantPages {
				t.Fatalf("got %v in %d pages, want %v in %d", got, pages, tc.want, tc.wantPages)
			}
		})
	}
}

func TestRequestsRejectsABadQuery(t *testing.T) {
	f := newFixture(t)
	for name, q := range map[string]engine.ListQuery{
		"unknown state":            {States: []string{"done"}},
		"limit above the maximum":  {Limit: engine.MaxListLimit + 1},
		"negative limit":           {Limit: -1},
		"cursor not base64":        {Cursor: "!!"},
		"cursor of something else": {Cursor: "c29tZXRoaW5n"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.e.Requests(context.Background(), q); !errors.Is(err, engine.ErrBadListing) {
				t.Fatalf("Requests(%+v) = %v, want ErrBadListing", q, err)
			}
		})
	}
}

// listingKeys are the keys of the listing index in the store.
func listingKeys(st *statemem.Store) []string {
	var out []string
	for _, k := range st.Keys() {
		if strings.HasPrefix(k, "l/") {
			out = append(out, k)
		}
	}
	return out
}

// TestRequestIsListedAsLongAsItsRecordLives: a request paused for most of
// its RequestTTL and kept for 10h after it ends outlives the listing
// entry written at its start; its drain renews the entry, which then
// expires with the record.
func TestRequestIsListedAsLongAsItsRecordLives(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	at := func(d time.Duration) { tt := t0.Add(d); now.Store(&tt) }
	state := statemem.New(statemem.WithClock(clock))
	f := newFixture(t, func(o *engine.Options) {
		o.StateStore, o.Now, o.RequestTTL, o.Retention = state, clock, 24*time.Hour, 10*time.Hour
	})
	ctx := context.Background()
	id := f.start(t)
	if err := f.e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	_ = f.tr.take(t)
	at(20 * time.Hour)
	if err := f.e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, f.e, f.tr)
	wantResult(t, f.e, id, ">abc") // ended at 20h: kept until 30h
	for _, tc := range []struct {
		at     time.Duration
		listed bool
	}{{21 * time.Hour, true}, {25 * time.Hour, true}, {29 * time.Hour, true}, {31 * time.Hour, false}} {
		at(tc.at)
		got, _ := listIDs(t, f.e, engine.ListQuery{})
		_, err := f.e.State(ctx, id)
		if tc.listed && (len(got) != 1 || got[0] != id || err != nil) {
			t.Fatalf("at %v: listed %v, state error %v; want the request listed and its record kept", tc.at, got, err)
		}
		if !tc.listed && (len(got) != 0 || len(listingKeys(state)) != 0 || !errors.Is(err, engine.ErrUnknownRequest)) {
			t.Fatalf("at %v: listed %v, keys %v, state error %v; want record and entry expired", tc.at, got, listingKeys(state), err)
		}
	}
}

func TestRequestKeptForNoTimeLeavesTheListingWithItsRecord(t *testing.T) {
	f := newFixture(t, func(o *engine.Options) { o.Retention, o.RedriveRetention = -1, -1 })
	id := f.start(t)
	if got, _ := listIDs(t, f.e, engine.ListQuery{}); len(got) != 1 || got[0] != id {
		t.Fatalf("running request listed as %v", got)
	}
	deliverAll(t, f.e, f.tr)
	if got, _ := listIDs(t, f.e, engine.ListQuery{}); len(got) != 0 {
		t.Fatalf("a request kept for no time is still listed: %v", got)
	}
	if keys := listingKeys(f.state); len(keys) != 0 {
		t.Fatalf("listing entries left: %v", keys)
	}
}

// TestRequestIdUsedAgainIsListedOnceAndOnlyWhileItsRecordLives: the entry
// of a request whose record has expired outlives it (it keeps the TTL of
// its start); it is not listed, and a later request with the same id is
// listed once, with its own start.
func TestRequestIdUsedAgainIsListedOnceAndOnlyWhileItsRecordLives(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	clock := func() time.Time { return *now.Load() }
	at := func(d time.Duration) { tt := t0.Add(d); now.Store(&tt) }
	state := statemem.New(statemem.WithClock(clock))
	f := newFixture(t, func(o *engine.Options) {
		o.StateStore, o.Now, o.Retention, o.RedriveRetention = state, clock, time.Minute, -1
	})
	ctx := context.Background()
	start := func() {
		t.Helper()
		if _, err := f.e.Start(ctx, engine.StartRequest{ID: "order-7", Body: []byte(">")}); err != nil {
			t.Fatal(err)
		}
		deliverAll(t, f.e, f.tr)
	}
	start()
	at(time.Hour) // the record has expired, its entry has not
	if got, _ := listIDs(t, f.e, engine.ListQuery{}); len(got) != 0 || len(listingKeys(state)) != 1 {
		t.Fatalf("after the record expired: listed %v with entries %v; want nothing listed, one stale entry", got, listingKeys(state))
	}
	start()
	page, err := f.e.Requests(ctx, engine.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Requests) != 1 || !page.Requests[0].Started.Equal(t0.Add(time.Hour)) {
		t.Fatalf("the id used again is listed as %+v; want it once, started at its second start", page.Requests)
	}
}

// TestAPageWithAStateFilterLooksAtNoMoreThanAThousandRequests: a filter
// that only the oldest of 1,005 requests passes gives a first page that
// is empty but has a cursor, and a second page with that request.
func TestAPageWithAStateFilterLooksAtNoMoreThanAThousandRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	at := func(i int) { tt := t0.Add(time.Duration(i) * time.Millisecond); f.now.Store(&tt) }
	at(0)
	paused := f.start(t)
	if err := f.e.Pause(ctx, paused); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 1004; i++ {
		at(i)
		f.start(t)
	}
	f.now.Store(nil)
	q := engine.ListQuery{States: []string{engine.StatePaused}, Limit: 10}
	first, next := listIDs(t, f.e, q)
	if len(first) != 0 || next == "" {
		t.Fatalf("first page %v cursor %q; want it empty, with a cursor", first, next)
	}
	q.Cursor = next
	if second, next := listIDs(t, f.e, q); len(second) != 1 || second[0] != paused || next != "" {
		t.Fatalf("second page %v cursor %q; want the paused request and no cursor", second, next)
	}
}
