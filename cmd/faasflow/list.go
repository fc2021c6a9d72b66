package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"text/tabwriter"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/client"
)

// listed is one row of `faasflow list`, and its --json form.
type listed struct {
	Name              string  `json:"name"`
	Image             string  `json:"image"`
	Invocations       float64 `json:"invocationCount"`
	Replicas          uint64  `json:"replicas"`
	AvailableReplicas uint64  `json:"availableReplicas"`
	// Flow is "yes" for a flow, "no" for any other function, and "-"
	// when it was not asked (no replica is ready to answer).
	Flow string `json:"flow"`
}

func runList(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("list", e, "list [--json] [--quiet]")
	var g gatewayFlags
	g.register(fs)
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	quiet := fs.Bool("quiet", false, "print only the names, one a line")
	fs.BoolVar(quiet, "q", false, "short for --quiet")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c := g.client(e, "")
	fns, err := c.List(ctx)
	if err != nil {
		return err
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	if *quiet {
		for _, f := range fns {
			fmt.Fprintln(e.stdout, f.Name)
		}
		return nil
	}
	rows := listRows(ctx, c, fns)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tINVOCATIONS\tREPLICAS\tIMAGE\tFLOW")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%d/%d\t%s\t%s\n", r.Name, r.Invocations, r.AvailableReplicas, r.Replicas, r.Image, r.Flow)
	}
	return tw.Flush()
}

// listRows turns the gateway's functions into rows, asking each function
// with a ready replica whether it is a flow (flowProbe), in parallel.
func listRows(ctx context.Context, c *client.Client, fns []api.FunctionStatus) []listed {
	rows := make([]listed, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns {
		rows[i] = listed{Name: f.Name, Image: f.Image, Invocations: f.InvocationCount,
			Replicas: f.Replicas, AvailableReplicas: f.AvailableReplicas, Flow: "-"}
		if f.AvailableReplicas > 0 {
			wg.Go(func() { rows[i].Flow = flowProbe(ctx, c, f.Name) })
		}
	}
	wg.Wait()
	return rows
}

// flowProbe asks function name's health route (HEAD /_/health, which
// every flow serves) whether it is a flow: a flow's answers carry
// headerFlowRuntime. It returns "yes", "no", or "-" when the call failed.
func flowProbe(ctx context.Context, c *client.Client, name string) string {
	resp, err := c.Invoke(ctx, client.Invocation{Name: name, Method: http.MethodHead, Path: "/_/health"})
	if err != nil {
		return "-"
	}
	resp.Body.Close()
	switch {
	case resp.Header.Get(headerFlowRuntime) != "":
		return "yes"
	case resp.StatusCode >= 500:
		return "-"
	}
	return "no"
}
