package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/sdk"
)

// Bounds of a listing of requests (see Engine.Requests).
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
	// maxListScan bounds the index entries one page looks at: a page with
	// a state filter that few requests match may come back short.
	maxListScan = 1000
	// listReadChunk bounds the records one transaction reads (etcd allows
	// 128 operations in one by default).
	listReadChunk = 100
)

// ListQuery selects a page of a flow's requests, newest first.
type ListQuery struct {
	// States keeps only requests in one of these states (none: all).
	States []string
	// Since keeps only requests started at or after it (zero: all).
	Since time.Time
	// Limit is the most requests in the page: 1 to MaxListLimit, 0 for
	// DefaultListLimit.
	Limit int
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
}

// RequestSummary is one request of a listing, as its record says now.
type RequestSummary struct {
	ID      string
	State   string
	Started time.Time
	Ended   *time.Time
	// FailedNode is the node whose failure failed the request, once the
	// request has been drained (its node statuses folded into its record).
	FailedNode string
	Error      string
}

// RequestPage is one page of a listing. NextCursor is empty on the last
// page; a page may hold fewer than Limit requests (even none) and still
// have one, when a state filter skipped many requests.
type RequestPage struct {
	Requests   []RequestSummary
	NextCursor string
}

// Listing index. A request is listed under "l/<flow>/<inverted start>/<id>",
// written with its record when it starts and with the same TTL, which its
// drain and a redrive renew as they renew the record's: keys sort newest
// first, so a page is one range read after the cursor's key, whatever the
// number of requests kept. The entry holds no state: a page reads the
// records of its entries, which are the truth, and skips entries whose
// record has gone.
func listPrefix(flow string) string { return "l/" + url.PathEscape(flow) + "/" }

// invertedTime is t as 16 hex digits that sort later for earlier times.
func invertedTime(t time.Time) string { return fmt.Sprintf("%016x", invertedNanos(t)) }

func listedKey(flow, id string, started time.Time) string {
	return listPrefix(flow) + invertedTime(started) + "/" + url.PathEscape(id)
}

// listed is an entry of the listing index.
type listed struct {
	key, inv, id string
}

// parseListed splits suffix ("<inverted start>/<id>") into its parts.
func parseListed(suffix string) (inv, id string, ok bool) {
	inv, esc, found := strings.Cut(suffix, "/")
	if !found || len(inv) != 16 {
		return "", "", false
	}
	if _, err := strconv.ParseUint(inv, 16, 64); err != nil || strings.ToLower(inv) != inv {
		return "", "", false
	}
	id, err := url.PathUnescape(esc)
	if err != nil || !validRequestID(id) {
		return "", "", false
	}
	return inv, id, true
}

// relist gives rec's entry in the listing index ttl to live from now, as
// the record was just given, creating it again if it had expired. Someone
// else writing it at the same time does as well. It does nothing when the
// entry, which lives RequestTTL from the request's start, outlives that
// anyway (a request that ends well within RequestTTL and is kept for less
// than what is left of it).
func (e *Engine) relist(ctx context.Context, rec *RequestRecord, ttl time.Duration) error {
	if e.o.Now().Add(ttl + e.o.MaxClockSkew).Before(rec.Created.Add(e.o.RequestTTL)) {
		return nil
	}
	key := listedKey(e.o.Flow, rec.ID, rec.Created)
	for range 3 {
		v, ver, err := e.o.StateStore.Get(ctx, key)
		ok := false
		switch {
		case errors.Is(err, sdk.ErrNotFound):
			_, ok, err = e.o.StateStore.Create(ctx, key, nil, ttl)
		case err == nil:
			_, ok, err = e.o.StateStore.CompareAndSwap(ctx, key, ver, v, ttl)
		}
		if err != nil {
			return fmt.Errorf("renew the request's listing entry: %w", err)
		}
		if ok {
			return nil
		}
	}
	return nil
}

// check validates q and fills in its default limit.
func (q *ListQuery) check() error {
	for _, s := range q.States {
		if s != StateRunning && s != StatePaused && !terminalRequest(s) {
			return fmt.Errorf("%w: unknown state %q: use running, paused, succeeded, failed or stopped", ErrBadListing, s)
		}
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if q.Limit < 1 || q.Limit > MaxListLimit {
		return fmt.Errorf("%w: limit %d: use 1 to %d", ErrBadListing, q.Limit, MaxListLimit)
	}
	if q.Cursor != "" {
		if _, err := decodeListCursor(q.Cursor); err != nil {
			return err
		}
	}
	return nil
}

func encodeListCursor(suffix string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(suffix))
}

func decodeListCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if _, _, ok := parseListed(string(b)); ok {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("%w: cursor %q was not issued by a listing of this flow", ErrBadListing, c)
}

// Requests returns a page of the flow's requests, newest first: those
// started at or after q.Since, in one of q.States. Its cost is that of the
// page (a few range reads of the index, in windows of start times, and one
// read of the page's records per hundred), never that of the requests
// kept; with a state filter it looks at no more than a thousand requests,
// and says where to go on. A flow of one node keeps no requests: the page
// is empty. Errors wrap ErrBadListing for a bad query.
func (e *Engine) Requests(ctx context.Context, q ListQuery) (*RequestPage, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	page := &RequestPage{Requests: []RequestSummary{}}
	if e.flow.sync {
		return page, nil
	}
	l := lister{e: e, q: q, prefix: listPrefix(e.o.Flow), page: page, span: firstListWindow}
	l.winStart = invertedNanos(e.o.Now())
	if q.Cursor != "" {
		suffix, _ := decodeListCursor(q.Cursor)
		l.after = l.prefix + suffix
		l.from = l.after + "\x00"
		l.winStart, _ = strconv.ParseUint(suffix[:16], 16, 64)
	}
	if !q.Since.IsZero() {
		l.sinceInv = invertedTime(q.Since)
		if v := invertedNanos(q.Since); v < math.MaxUint64 {
			l.sinceEnd = fmt.Sprintf("%s%016x", l.prefix, v+1)
		}
	}
	if err := l.run(ctx); err != nil {
		return nil, err
	}
	return page, nil
}

// The index is read in windows of start times, newest first: etcd counts
// every key of a range it reads, so a read of the whole index would cost
// more the more requests are kept. The first window spans the second of
// starts before now (or before the cursor); each window a page reads to
// its end is followed by one 16 times as long (16s, 4m, 68m, 18h...),
// until one is open-ended.
const (
	firstListWindow  = uint64(time.Second)
	listWindowGrowth = 16
	lastListWindow   = uint64(20 * 365 * 24 * time.Hour)
)

func invertedNanos(t time.Time) uint64 { return uint64(math.MaxInt64 - t.UnixNano()) }

// lister fills one page of a listing.
type lister struct {
	e        *Engine
	q        ListQuery
	prefix   string
	after    string // key of the last entry looked at
	from     string // where the next read starts
	winStart uint64 // inverted start time where the current window starts
	span     uint64 // of the current window, in nanoseconds
	sinceInv string // entries with a greater inverted time started before Since
	sinceEnd string // the key after every entry started at or after Since
	scanned  int
	page     *RequestPage
	// probed is set once a full page has looked for more in the window
	// after its last entry's: it then looks at everything older at once.
	probed bool
}

// window is the end of the current window ("": none) and whether no
// window follows it.
func (l *lister) window() (to string, last bool) {
	if l.span <= lastListWindow && l.winStart <= math.MaxUint64-l.span {
		to = fmt.Sprintf("%s%016x", l.prefix, l.winStart+l.span)
	}
	if l.sinceEnd != "" && (to == "" || to >= l.sinceEnd) {
		return l.sinceEnd, true
	}
	return to, to == ""
}

func (l *lister) run(ctx context.Context) error {
	probing := false // the page is full: is there anything after it?
	for {
		batch := l.q.Limit - len(l.page.Requests) + 1
		if len(l.q.States) > 0 && !probing {
			batch = max(batch, listReadChunk)
		}
		batch = min(batch, maxListScan-l.scanned)
		if batch <= 0 {
			l.page.NextCursor = encodeListCursor(strings.TrimPrefix(l.after, l.prefix))
			return nil
		}
		to, last := l.window()
		kvs, err := l.e.listRange(ctx, l.prefix, l.from, to, batch)
		if err != nil {
			return fmt.Errorf("read the listing index: %w", err)
		}
		entries, inSince := l.entries(kvs)
		if probing && len(entries) > 0 {
			l.page.NextCursor = encodeListCursor(strings.TrimPrefix(l.after, l.prefix))
			return nil
		}
		full := len(kvs) == batch
		recs, err := l.e.readRecords(ctx, entries)
		if err != nil {
			return err
		}
		for i, ent := range entries {
			l.after, l.from = ent.key, ent.key+"\x00"
			l.scanned++
			if l.add(recs[i], ent) && len(l.page.Requests) == l.q.Limit {
				if i < len(entries)-1 || inSince && full {
					l.page.NextCursor = encodeListCursor(strings.TrimPrefix(ent.key, l.prefix))
					return nil
				}
				probing = true
				break
			}
		}
		switch {
		case !inSince:
			return nil
		case full && !probing:
			l.from = kvs[len(kvs)-1].Key + "\x00" // past entries that do not parse too
		case last:
			return nil
		case probing && l.probed:
			l.from, l.span = to, math.MaxUint64 // then the rest, at once
		default: // the window is read to its end: the next one
			l.from, l.winStart, l.span = to, l.winStart+l.span, l.span*listWindowGrowth
			l.probed = probing
		}
	}
}

// entries parses kvs, up to the first entry that started before Since;
// inSince is false if there was one.
func (l *lister) entries(kvs []sdk.KV) (out []listed, inSince bool) {
	out = make([]listed, 0, len(kvs))
	for _, kv := range kvs {
		inv, id, ok := parseListed(strings.TrimPrefix(kv.Key, l.prefix))
		if !ok {
			continue
		}
		if l.sinceInv != "" && inv > l.sinceInv {
			return out, false
		}
		out = append(out, listed{key: kv.Key, inv: inv, id: id})
	}
	return out, true
}

// add puts the request of ent in the page if its record is the one the
// entry was written for and it passes the filter.
func (l *lister) add(rec *RequestRecord, ent listed) bool {
	if rec == nil || invertedTime(rec.Created) != ent.inv {
		return false // gone, or a later use of the id
	}
	if len(l.q.States) > 0 && !slices.Contains(l.q.States, rec.State) {
		return false
	}
	l.page.Requests = append(l.page.Requests, summarize(rec))
	return true
}

// summarize is the listing's view of rec.
func summarize(rec *RequestRecord) RequestSummary {
	s := RequestSummary{ID: rec.ID, State: rec.State, Started: rec.Created, Ended: rec.Ended}
	if rec.State == StateFailed {
		s.Error = rec.Error
		failed := make([]string, 0, 1)
		for inst, st := range rec.Nodes {
			if st.Status == NodeFailed {
				failed = append(failed, inst)
			}
		}
		if len(failed) > 0 {
			s.FailedNode = slices.Min(failed)
		}
	}
	return s
}

// listRange reads keys with the store's sdk.RangeLister, or else with
// List (whose cost is that of the whole prefix).
func (e *Engine) listRange(ctx context.Context, prefix, from, to string, limit int) ([]sdk.KV, error) {
	if rl, ok := e.o.StateStore.(sdk.RangeLister); ok {
		return rl.ListRange(ctx, prefix, from, to, limit)
	}
	all, err := e.o.StateStore.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []sdk.KV
	for _, kv := range all {
		if kv.Key >= from && (to == "" || kv.Key < to) && len(out) < limit {
			out = append(out, kv)
		}
	}
	return out, nil
}

// readRecords reads the request records of entries (nil: none), a hundred
// per round trip.
func (e *Engine) readRecords(ctx context.Context, entries []listed) ([]*RequestRecord, error) {
	out := make([]*RequestRecord, 0, len(entries))
	for chunk := range slices.Chunk(entries, listReadChunk) {
		ops := make([]sdk.TxnOp, len(chunk))
		for i, ent := range chunk {
			ops[i] = sdk.TxnGet(newKeys(e.o.Flow, ent.id, "").record)
		}
		res, err := e.txn(ctx, ops...)
		if err != nil {
			return nil, fmt.Errorf("read request records: %w", err)
		}
		for _, r := range res {
			var rec *RequestRecord
			if r.OK {
				rec, _ = decodeRecord(r.Value)
			}
			out = append(out, rec)
		}
	}
	return out, nil
}
