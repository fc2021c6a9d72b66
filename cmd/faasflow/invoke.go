package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faas-flow/faas-flow/gateway/client"
)

func runInvoke(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("invoke", e, "invoke NAME [--async] [--wait DURATION] [--header k=v] [--query k=v] < body")
	var g gatewayFlags
	g.register(fs)
	async := fs.Bool("async", false, "queue the call (answer 202) instead of waiting for it")
	wait := fs.String("wait", "", "for flows: wait up to DURATION for the result (adds ?wait=DURATION)")
	method := fs.String("method", "POST", "HTTP method")
	path := fs.String("path", "", "path after /function/NAME, e.g. /flow/ID/state")
	contentType := fs.String("content-type", "text/plain", "Content-Type of the body")
	var headers, query listFlag
	fs.Var(&headers, "header", "request header k=v (repeatable)")
	fs.Var(&query, "query", "query parameter k=v (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one function name, got %d arguments", len(pos))
	}
	h, err := keyValues(headers, "header")
	if err != nil {
		return err
	}
	q, err := keyValues(query, "query")
	if err != nil {
		return err
	}
	if *wait != "" {
		q["wait"] = []string{*wait}
	}
	if *path != "" && !strings.HasPrefix(*path, "/") {
		*path = "/" + *path
	}
	in := client.Invocation{Name: pos[0], Async: *async, Method: *method, Path: *path, Query: url.Values(q), Header: h, Body: e.stdin,
		Auth: flowControl(*path, q)}
	if in.Header == nil {
		in.Header = map[string][]string{}
	}
	if _, ok := in.Header["Content-Type"]; !ok {
		in.Header["Content-Type"] = []string{*contentType}
	}
	resp, err := g.client(e, "").Invoke(ctx, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *async {
		if resp.StatusCode != 202 {
			return printResponse(e, resp.StatusCode, resp.Body)
		}
		id := resp.Header.Get("X-Call-Id")
		if id == "" {
			id = strings.Join(h["X-Call-Id"], "")
		}
		fmt.Fprintf(e.stderr, "Function submitted asynchronously. X-Call-Id: %s\n", id)
		return nil
	}
	if id := resp.Header.Get("X-Faas-Flow-Reqid"); id != "" {
		fmt.Fprintf(e.stderr, "X-Faas-Flow-Reqid: %s\n", id)
	}
	return printResponse(e, resp.StatusCode, resp.Body)
}

// flowControl reports whether a call with path and query reaches a flow's
// control or read routes, which take the gateway's basic auth.
func flowControl(path string, query map[string][]string) bool {
	if strings.HasPrefix(path, "/flow/") {
		return true
	}
	for _, k := range []string{"state", "pause-flow", "resume-flow", "stop-flow", "redrive-flow"} {
		if _, ok := query[k]; ok {
			return true
		}
	}
	return false
}

func runState(ctx context.Context, e env, args []string) error {
	return requestCall(ctx, e, "state", http.MethodGet, args)
}

// requestControl returns the command that posts action (pause, resume,
// stop, redrive) to one request of a flow.
func requestControl(action string) func(context.Context, env, []string) error {
	return func(ctx context.Context, e env, args []string) error {
		return requestCall(ctx, e, action, http.MethodPost, args)
	}
}

// requestCall calls /flow/REQUEST_ID/<action> on the flow named in args
// and prints the answer.
func requestCall(ctx context.Context, e env, action, method string, args []string) error {
	fs := newFlagSet(action, e, action+" FLOW REQUEST_ID")
	var g gatewayFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want FLOW and REQUEST_ID")
	}
	resp, err := g.client(e, "").Invoke(ctx, client.Invocation{Name: pos[0], Method: method, Path: "/flow/" + escape(pos[1]) + "/" + action, Auth: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printFlowResponse(e, pos[0], resp)
}

func runDag(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("dag", e, "dag FLOW [--format dot|json|mermaid]")
	var g gatewayFlags
	g.register(fs)
	format := fs.String("format", "dot", "dot, json or mermaid")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one flow name")
	}
	switch *format {
	case "dot", "json", "mermaid":
	default:
		return usagef("--format must be dot, json or mermaid, not %q", *format)
	}
	resp, err := g.client(e, "").Invoke(ctx, client.Invocation{Name: pos[0], Method: "GET", Query: url.Values{"dag": {*format}}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return printFlowResponse(e, pos[0], resp)
}

// headerFlowRuntime is the header the flow runtime puts on every answer of
// a flow function (runtime.HeaderRuntime).
const headerFlowRuntime = "X-Faas-Flow-Runtime"

// printFlowResponse is printResponse for the commands that only mean
// something to a flow (state, pause, resume, stop, redrive, dag). An answer
// without headerFlowRuntime did not come from a flow: it is an error saying
// so, whatever its status, unless the gateway made it (an unknown function,
// one that is down), which is reported as it is.
func printFlowResponse(e env, name string, resp *http.Response) error {
	if resp.Header.Get(headerFlowRuntime) != "" {
		return printResponse(e, resp.StatusCode, resp.Body)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if gatewayAnswer(resp, b) {
		return printResponse(e, resp.StatusCode, bytes.NewReader(b))
	}
	return fmt.Errorf("%s is not a faas-flow flow: its answer (%s) lacks the %s header that every flow function sends",
		name, resp.Status, headerFlowRuntime)
}

// gatewayAnswer reports whether resp, with body b, was made by the gateway
// or the watchdog rather than by the function: they mark their errors with
// X-OpenFaaS-Internal, except the gateway's 404 for a function that is not
// deployed, which says "error finding function".
func gatewayAnswer(resp *http.Response, b []byte) bool {
	return resp.Header.Get("X-OpenFaaS-Internal") != "" ||
		(resp.StatusCode == http.StatusNotFound && bytes.HasPrefix(b, []byte("error finding function")))
}
