package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Case is one invocation of an example flow and its expected outcome.
type Case struct {
	Flow  string
	Input string
	// Status is the expected HTTP status of the waited call.
	Status int
	// Want is the expected body (exact), or a substring when Contains is set.
	Want     string
	Contains bool
	Note     string
}

// Cases are the example invocations, in the order the demo runs them.
var Cases = []Case{
	{Flow: "greet", Input: "Adam", Status: http.StatusOK, Want: "Hello, Adam! (via faas-flow)", Note: "sync chain: result in the first response"},
	{Flow: "async-chain", Input: "hello world", Status: http.StatusOK, Want: "mirrored: DLROW OLLEH", Note: "three hops through the queue"},
	{Flow: "parallel", Input: "one two three", Status: http.StatusOK, Want: `{"count":"3","reverse":"eerht owt eno","upper":"ONE TWO THREE"}`, Note: "fan-out and aggregator join"},
	{Flow: "branching", Input: "Go Flows rock", Status: http.StatusOK, Want: "result: sentence=flows=SWOLF; go=OG; rock=KCOR", Note: "sub-DAG, conditional, foreach"},
	{Flow: "branching", Input: "Adam", Status: http.StatusOK, Want: "result: word=Hello, adam!", Note: "the other branch"},
	{Flow: "etl", Input: "rows=200000", Status: http.StatusOK, Want: `{"rows":200000,"sum":99900000}`, Note: "4 MB through the data store"},
	{Flow: "failure", Input: "order 42", Status: http.StatusOK, Want: "accepted: order 42", Note: "flaky function, retried twice"},
	{Flow: "failure", Input: "please fail", Status: FailedStatus, Want: "rejected, compensation done: node validate failed", Contains: true, Note: "OnFailure result of a failed request"},
	{Flow: "declarative", Input: "one two three", Status: http.StatusOK, Want: `["EERHT OWT ENO","one two three",3]`, Note: "flow.yaml: Parallel, Choice, Map"},
	{Flow: "declarative", Input: "hi there", Status: FailedStatus, Want: "Text.TooShort", Contains: true, Note: "flow.yaml: a Fail state"},
}

// FailedStatus is the status of a waited call whose flow failed (the
// runtime's choice, see docs/configuration.md).
var FailedStatus = http.StatusUnprocessableEntity

// Outcome is the result of one Case.
type Outcome struct {
	Case
	RequestID string
	Got       int
	Body      string
	Elapsed   time.Duration
	Err       error
}

// OK reports whether the outcome matches the case.
func (o Outcome) OK() bool {
	if o.Err != nil || o.Got != o.Status {
		return false
	}
	if o.Contains {
		return strings.Contains(o.Body, o.Want)
	}
	return o.Body == o.Want
}

// Invoke calls flow through the gateway at gatewayURL and waits up to wait
// for its result.
func Invoke(ctx context.Context, hc *http.Client, gatewayURL, flow, input string, wait time.Duration) (status int, body, requestID string, err error) {
	url := fmt.Sprintf("%s/function/%s?wait=%s", strings.TrimRight(gatewayURL, "/"), flow, wait)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(input))
	if err != nil {
		return 0, "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(bytes.TrimSpace(b)), resp.Header.Get("X-Faas-Flow-Reqid"), err
}

// Run invokes every case through the gateway and writes one line per case to
// out. It returns an error if any case did not match.
func Run(ctx context.Context, gatewayURL string, out io.Writer) ([]Outcome, error) {
	hc := &http.Client{Timeout: 2 * time.Minute}
	var outcomes []Outcome
	failed := 0
	for _, c := range Cases {
		start := time.Now()
		status, body, id, err := Invoke(ctx, hc, gatewayURL, c.Flow, c.Input, time.Minute)
		o := Outcome{Case: c, RequestID: id, Got: status, Body: body, Elapsed: time.Since(start), Err: err}
		outcomes = append(outcomes, o)
		mark := "ok  "
		if !o.OK() {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(out, "%s %-12s %-16q -> %d %s\n     request %s, %s (%s)\n", mark, c.Flow, c.Input, status, shorten(body, 100), id, o.Elapsed.Round(time.Millisecond), c.Note)
		if !o.OK() {
			if err != nil {
				fmt.Fprintf(out, "     error: %v\n", err)
			}
			fmt.Fprintf(out, "     want %d %q\n", c.Status, c.Want)
		}
	}
	if failed > 0 {
		return outcomes, fmt.Errorf("%d of %d example invocations did not give the expected result", failed, len(Cases))
	}
	return outcomes, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
