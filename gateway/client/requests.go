package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNotAFlow is returned by Requests for a function whose answer lacks the
// header every faas-flow flow function sends.
var ErrNotAFlow = errors.New("not a faas-flow flow")

// headerFlowRuntime is the header every answer of a flow function carries.
const headerFlowRuntime = "X-Faas-Flow-Runtime"

// RequestsQuery selects a page of a flow's requests (GET
// /function/<flow>/flow/requests). Zero fields are left out: every state,
// every start time, the flow's default limit, the first page.
type RequestsQuery struct {
	// States keeps requests in one of these states: running, paused,
	// succeeded, failed, stopped.
	States []string
	// Since keeps requests started at or after it.
	Since time.Time
	// Limit is the most requests in the page (the flow allows 1 to 500).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// RequestSummary is one request of a RequestsPage.
type RequestSummary struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	Started    time.Time  `json:"started"`
	Ended      *time.Time `json:"ended,omitempty"`
	DurationMS int64      `json:"duration_ms,omitempty"`
	FailedNode string     `json:"failed_node,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// RequestsPage is one page of a flow's requests, newest first. NextCursor
// is empty on the last page.
type RequestsPage struct {
	Requests   []RequestSummary `json:"requests"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// values encodes q as the query of the listing route.
func (q RequestsQuery) values() url.Values {
	v := url.Values{}
	if len(q.States) > 0 {
		v.Set("state", strings.Join(q.States, ","))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// Requests returns a page of the requests of flow, through the gateway
// with the client's login (which the flow's read routes require). A bad
// query is a StatusError of 400.
func (c *Client) Requests(ctx context.Context, flow string, q RequestsQuery) (RequestsPage, error) {
	var page RequestsPage
	path := "/function/" + url.PathEscape(flow) + "/flow/requests"
	if enc := q.values().Encode(); enc != "" {
		path += "?" + enc
	}
	resp, err := c.system(ctx, http.MethodGet, path, nil)
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && resp.Header.Get(headerFlowRuntime) == "" {
		return page, fmt.Errorf("list the requests of %s: %w: its answer lacks the %s header", flow, ErrNotAFlow, headerFlowRuntime)
	}
	if resp.StatusCode != http.StatusOK {
		return page, statusErr("list the requests of "+flow, resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return page, fmt.Errorf("list the requests of %s: %w", flow, err)
	}
	return page, nil
}
