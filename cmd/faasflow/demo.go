package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/faas-flow/faas-flow/examples/demo"
	"github.com/faas-flow/faas-flow/gateway/client"
)

// runDemo is the main job: start the local stack, deploy stack.yml, invoke
// every example, print each result and request id, and stop.
func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("demo", e, "demo [flags]")
	var l localFlags
	l.register(fs, ".faasflow-demo", "stack.yml")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	loc, err := l.startAndDeploy(ctx, e)
	if err != nil {
		return err
	}
	defer loc.Close()
	fmt.Fprintln(e.stderr, "invoking every example (POST /function/<flow>?wait=1m)")
	outcomes, runErr := demo.Run(ctx, loc.URL(), e.stdout)
	// Show that a finished request's record stays queryable by id.
	for _, o := range outcomes {
		if o.Flow == "branching" && o.RequestID != "" {
			path := "/flow/" + o.RequestID + "/state"
			in := client.Invocation{Name: o.Flow, Method: http.MethodGet, Path: path, Auth: true}
			if resp, err := loc.Client().Invoke(ctx, in); err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				fmt.Fprintf(e.stdout, "\nGET /function/%s%s\n%s %s\n", o.Flow, path, resp.Status, b)
			}
			break
		}
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(e.stdout, "\nall %d example invocations gave the expected result; stopping the stack (%s)\n", len(outcomes), time.Now().Format(time.TimeOnly))
	return nil
}
