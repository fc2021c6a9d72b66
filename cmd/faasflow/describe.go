package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

func runDescribe(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("describe", e, "describe NAME [--json] [--verbose]")
	var g gatewayFlags
	g.register(fs)
	asJSON := fs.Bool("json", false, "print the gateway's FunctionStatus as JSON")
	verbose := fs.Bool("verbose", false, "also print the environment variables")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one function name")
	}
	c := g.client(e, "")
	st, err := c.Function(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	flow := "-"
	if st.AvailableReplicas > 0 {
		flow = flowProbe(ctx, c, st.Name)
	}
	printDescription(e.stdout, c.URL, st, flow, *verbose)
	return nil
}

// printDescription writes st as faas-cli describe does, one "Key: value"
// a line, plus whether it is a flow.
func printDescription(w io.Writer, gatewayURL string, st api.FunctionStatus, flow string, verbose bool) {
	status := "Not Ready"
	if st.AvailableReplicas > 0 {
		status = "Ready"
	}
	line := func(k, v string) { fmt.Fprintf(w, "%-20s %s\n", k+":", v) }
	line("Name", st.Name)
	line("Status", status)
	line("Replicas", fmt.Sprint(st.Replicas))
	line("Available Replicas", fmt.Sprint(st.AvailableReplicas))
	line("Invocations", fmt.Sprintf("%.0f", st.InvocationCount))
	line("Image", st.Image)
	line("Flow", flow)
	line("Function Process", st.EnvProcess)
	line("URL", gatewayURL+"/function/"+st.Name)
	line("Async URL", gatewayURL+"/async-function/"+st.Name)
	line("Labels", pairs(st.Labels))
	line("Annotations", pairs(st.Annotations))
	line("Constraints", strings.Join(st.Constraints, ", "))
	line("Secrets", strings.Join(st.Secrets, ", "))
	if verbose {
		line("Environment", pairs(&st.EnvVars))
	}
	if st.Requests != nil {
		line("Requests", fmt.Sprintf("memory %s, cpu %s", st.Requests.Memory, st.Requests.CPU))
	}
	if st.Limits != nil {
		line("Limits", fmt.Sprintf("memory %s, cpu %s", st.Limits.Memory, st.Limits.CPU))
	}
	if !st.CreatedAt.IsZero() {
		line("Created", st.CreatedAt.Format(time.RFC3339))
	}
}

// pairs formats a map as sorted k=v, comma-separated.
func pairs(m *map[string]string) string {
	if m == nil {
		return ""
	}
	out := make([]string, 0, len(*m))
	for k, v := range *m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
