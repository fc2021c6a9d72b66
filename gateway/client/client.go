package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
)

// ErrUnauthorized is matched by a StatusError of 401: the credentials are
// wrong. A StatusError of 404 matches api.ErrFunctionNotFound.
var ErrUnauthorized = errors.New("unauthorized: check the gateway credentials (faasflow up prints them)")

// StatusError is a non-success answer from the gateway.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: gateway answered %d: %s", e.Op, e.Status, strings.TrimSpace(e.Body))
}

func (e *StatusError) Is(target error) bool {
	return (target == ErrUnauthorized && e.Status == http.StatusUnauthorized) ||
		(target == api.ErrFunctionNotFound && e.Status == http.StatusNotFound)
}

// Client is a gateway client. The zero HTTP uses http.DefaultClient.
type Client struct {
	URL      string
	User     string
	Password string
	HTTP     *http.Client
}

// New returns a client for gatewayURL.
func New(gatewayURL, user, password string) *Client {
	return &Client{URL: strings.TrimRight(gatewayURL, "/"), User: user, Password: password}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) system(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	req.Header.Set("User-Agent", "faasflow-cli")
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

func statusErr(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &StatusError{Op: op, Status: resp.StatusCode, Body: string(b)}
}

// Deploy creates or updates a function like faas-cli: PUT, then POST when
// the PUT answers 404. Success is 200 or 202.
func (c *Client) Deploy(ctx context.Context, d api.FunctionDeployment) error {
	if d.Labels == nil {
		d.Labels = &map[string]string{}
	}
	if d.Annotations == nil {
		d.Annotations = &map[string]string{}
	}
	resp, err := c.system(ctx, http.MethodPut, "/system/functions", d)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		if resp, err = c.system(ctx, http.MethodPost, "/system/functions", d); err != nil {
			return err
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return statusErr("deploy "+d.Service, resp)
	}
	return nil
}

// Delete removes a function.
func (c *Client) Delete(ctx context.Context, name string) error {
	resp, err := c.system(ctx, http.MethodDelete, "/system/functions", api.DeleteFunctionRequest{FunctionName: name})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return statusErr("remove "+name, resp)
	}
	return nil
}

// List returns the deployed functions.
func (c *Client) List(ctx context.Context) ([]api.FunctionStatus, error) {
	resp, err := c.system(ctx, http.MethodGet, "/system/functions", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr("list functions", resp)
	}
	var out []api.FunctionStatus
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	return out, nil
}

// Function returns one function's status.
func (c *Client) Function(ctx context.Context, name string) (api.FunctionStatus, error) {
	var st api.FunctionStatus
	resp, err := c.system(ctx, http.MethodGet, "/system/function/"+url.PathEscape(name), nil)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, statusErr("describe "+name, resp)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// Logs returns a function's kept log lines (tail <= 0: all).
func (c *Client) Logs(ctx context.Context, name string, tail int) ([]api.LogMessage, error) {
	q := url.Values{"name": {name}, "follow": {"false"}, "tail": {fmt.Sprint(tail)}}
	resp, err := c.system(ctx, http.MethodGet, "/system/logs?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr("logs "+name, resp)
	}
	var out []api.LogMessage
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var m api.LogMessage
		if err := dec.Decode(&m); err != nil {
			return out, fmt.Errorf("logs %s: %w", name, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// FollowLogs calls emit with a function's last tail log lines (tail <= 0:
// all kept), then with each new line as the function writes it, until ctx
// is done (ctx's error), emit fails (its error) or the gateway ends the
// stream because the function was removed (nil).
func (c *Client) FollowLogs(ctx context.Context, name string, tail int, emit func(api.LogMessage) error) error {
	q := url.Values{"name": {name}, "follow": {"true"}, "tail": {fmt.Sprint(tail)}}
	resp, err := c.system(ctx, http.MethodGet, "/system/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusErr("logs "+name, resp)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var m api.LogMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("logs %s: %w", name, err)
		}
		if err := emit(m); err != nil {
			return err
		}
	}
}

// Invocation is one call to a function.
type Invocation struct {
	Name   string
	Async  bool
	Method string // default POST
	Path   string // after /function/NAME, e.g. "/flow/ID/state"
	Query  url.Values
	Header http.Header
	Body   io.Reader
	// Auth sends the gateway's basic auth (the client's User and
	// Password) to the function, unless Header has an Authorization: a
	// flow's control and read routes (/flow/ID/..., the ?state= forms and
	// the request listing) require it. Leave it off for other calls, so
	// that functions are not handed the gateway's login.
	Auth bool
}

// Invoke calls a function and returns the raw response (the caller closes
// its body). Any status is returned without error.
func (c *Client) Invoke(ctx context.Context, in Invocation) (*http.Response, error) {
	prefix := "/function/"
	if in.Async {
		prefix = "/async-function/"
	}
	u := c.URL + prefix + url.PathEscape(in.Name) + in.Path
	if len(in.Query) > 0 {
		u += "?" + in.Query.Encode()
	}
	method := in.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, u, in.Body)
	if err != nil {
		return nil, err
	}
	for k, v := range in.Header {
		req.Header[k] = v
	}
	if in.Auth && c.User != "" && req.Header.Get("Authorization") == "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	if req.Header.Get("Content-Type") == "" && in.Body != nil {
		req.Header.Set("Content-Type", "text/plain")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", in.Name, err)
	}
	return resp, nil
}

// buildAttempts bounds the attempts of a Build the builder answers 429
// (busy with other builds): about ten minutes at its Retry-After of 10 s.
const buildAttempts = 60

// busyWait is the wait a 429's Retry-After asks for (whole seconds), 10 s
// when it asks for none, at most a minute.
func busyWait(retryAfter string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(retryAfter))
	if err != nil || n < 1 {
		return 10 * time.Second
	}
	return min(time.Duration(n)*time.Second, time.Minute)
}

// Build sends contextDir to the gateway's remote builder as image and
// copies progress lines to progress. While the builder answers 429 (as
// many builds as it allows are running), it waits as Retry-After says and
// tries again. It fails with the builder's error
// (the compiler output) when the build fails.
func (c *Client) Build(ctx context.Context, contextDir, image string, secret []byte, progress io.Writer) error {
	var tarBuf bytes.Buffer
	if err := remotebuild.WriteTar(&tarBuf, contextDir, api.BuildConfig{Image: image, BuildArgs: map[string]string{"ADDITIONAL_PACKAGE": ""}}); err != nil {
		return fmt.Errorf("build %s: pack context: %w", image, err)
	}
	payload := tarBuf.Bytes()
	sig := remotebuild.Sign(payload, secret)
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/build", bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Accept", "application/x-ndjson")
		req.Header.Set(api.HeaderBuildSignature, sig)
		if resp, err = c.http().Do(req); err != nil {
			return fmt.Errorf("build %s: %w", image, err)
		}
		if resp.StatusCode != http.StatusTooManyRequests || attempt == buildAttempts {
			break
		}
		// The builder runs as many builds as it allows: wait as it asks.
		wait := busyWait(resp.Header.Get("Retry-After"))
		resp.Body.Close()
		if progress != nil {
			fmt.Fprintf(progress, "the builder is busy; trying again in %s\n", wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("build %s: %w", image, ctx.Err())
		case <-time.After(wait):
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return statusErr("build "+image, resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	final := ""
	for sc.Scan() {
		var r api.BuildResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("build %s: bad progress line %q: %w", image, sc.Text(), err)
		}
		if progress != nil {
			for _, l := range r.Log {
				fmt.Fprintln(progress, l)
			}
		}
		final = r.Status
		if r.Status == api.BuildFailed {
			return fmt.Errorf("build %s failed: %s", image, r.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("build %s: %w", image, err)
	}
	if final != api.BuildSuccess {
		return fmt.Errorf("build %s: builder ended without success (last status %q)", image, final)
	}
	return nil
}
