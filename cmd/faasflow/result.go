package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/faas-flow/faas-flow/gateway/client"
)

func runResult(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("result", e, "result FLOW REQUEST_ID")
	var g gatewayFlags
	g.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want FLOW and REQUEST_ID")
	}
	resp, err := g.client(e, "").Invoke(ctx, client.Invocation{Name: pos[0], Method: http.MethodGet,
		Path: "/flow/" + escape(pos[1]) + "/result", Auth: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 || resp.Header.Get(headerFlowRuntime) == "" {
		return printFlowResponse(e, pos[0], resp)
	}
	return flowError(resp)
}

// flowError is the error of a flow's non-2xx answer: the "error" of its
// JSON body (e.g. "the flow failed: ..." for a failed request, or that a
// running one has no result yet) with the status, else the body as it is.
func flowError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error string `json:"error"`
		State string `json:"state"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		if body.State != "" {
			return fmt.Errorf("%s (state %s, status %d)", body.Error, body.State, resp.StatusCode)
		}
		return fmt.Errorf("%s (status %d)", body.Error, resp.StatusCode)
	}
	return printResponse(env{stdout: io.Discard}, resp.StatusCode, bytes.NewReader(b))
}
