package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/faas-flow/faas-flow/examples/demo"
	"github.com/faas-flow/faas-flow/gateway"
	"github.com/faas-flow/faas-flow/gateway/client"
)

// runDemo is the main job: start the local stack, deploy stack.yml, invoke
// every example, print each result and request id, and stop.
func runDemo(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("demo", e, "demo [flags]")
	var l localFlags
	l.register(fs, ".faasflow-demo", "stack.yml")
	l.registerS3(fs)
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
	if err := runObjectETLDemo(ctx, e, l, loc); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nall %d example invocations gave the expected result; stopping the stack (%s)\n", len(outcomes), time.Now().Format(time.TimeOnly))
	return nil
}

// runObjectETLDemo runs the object ETL example (examples/objectetl) when
// the stack runs on MinIO/S3: it puts sample files in the incoming bucket,
// starts the flow for each and shows what it wrote to the outgoing bucket.
func runObjectETLDemo(ctx context.Context, e env, l localFlags, loc *gateway.Local) error {
	if l.s3.url == "" {
		fmt.Fprintln(e.stdout, "\nobjectetl: not run, it reads and writes objects in MinIO/S3: give --s3-url (and the keys) to run it (docs/etl.md)")
		return nil
	}
	fmt.Fprintf(e.stdout, "\nobject ETL on %s: files put in bucket %s, results in bucket %s\n", l.s3.url, demo.IncomingBucket, demo.OutgoingBucket)
	st := demo.ObjectStack{GatewayURL: loc.URL(), S3Endpoint: l.s3.url, EtcdEndpoints: loc.EtcdEndpoints()}
	if err := st.ReadSecrets(loc.SecretsDir()); err != nil {
		return err
	}
	_, err := demo.RunObjectETL(ctx, st, e.stdout)
	return err
}
