package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faas-flow/faas-flow/gateway/client"
)

// runRequests lists a flow's requests, newest first: a table, or the
// flow's JSON page with --json.
func runRequests(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("requests", e, "requests FLOW [--state S[,S]] [--since TIME] [--limit N] [--cursor C] [--json]")
	var g gatewayFlags
	g.register(fs)
	states := fs.String("state", "", "only requests in these states (comma-separated): running, paused, succeeded, failed, stopped")
	since := fs.String("since", "", "only requests started at or after this RFC 3339 `TIME` (e.g. 2026-12-06T07:00:00Z)")
	limit := fs.Int("limit", 0, "the most requests to list, 1 to 500 (default: the flow's, 50)")
	cursor := fs.String("cursor", "", "go on from where the previous listing stopped (the cursor it printed)")
	asJSON := fs.Bool("json", false, "print the flow's JSON page instead of a table")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want FLOW")
	}
	q := client.RequestsQuery{Limit: *limit, Cursor: *cursor}
	for _, s := range strings.Split(*states, ",") {
		if s = strings.TrimSpace(s); s != "" {
			q.States = append(q.States, s)
		}
	}
	if *since != "" {
		if q.Since, err = time.Parse(time.RFC3339Nano, *since); err != nil {
			return usagef("--since %q: want an RFC 3339 time such as 2026-12-06T07:00:00Z", *since)
		}
	}
	page, err := g.client(e, "").Requests(ctx, pos[0], q)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	return printRequests(e, pos[0], q, page)
}

// printRequests prints page as a table, and on stderr the command that
// lists the next page (the same filters, and the cursor).
func printRequests(e env, flow string, q client.RequestsQuery, page client.RequestsPage) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTED\tDURATION\tFAILED NODE")
	for _, r := range page.Requests {
		duration := "-"
		if r.Ended != nil {
			duration = (time.Duration(r.DurationMS) * time.Millisecond).String()
		}
		failed := r.FailedNode
		if failed == "" {
			failed = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Started.UTC().Format(time.RFC3339), duration, failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		next := []string{"faasflow", "requests", flow}
		if len(q.States) > 0 {
			next = append(next, "--state", strings.Join(q.States, ","))
		}
		if !q.Since.IsZero() {
			next = append(next, "--since", q.Since.UTC().Format(time.RFC3339Nano))
		}
		if q.Limit != 0 {
			next = append(next, "--limit", fmt.Sprint(q.Limit))
		}
		fmt.Fprintf(e.stderr, "more: %s --cursor %s\n", strings.Join(next, " "), page.NextCursor)
	}
	return nil
}
