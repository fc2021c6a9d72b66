package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/faas-flow/faas-flow/gateway"
)

// chromiumPath is the browser the dashboard test drives
// (FAASFLOW_E2E_CHROMIUM overrides it; scripts/test.sh installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FAASFLOW_E2E_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the dashboard test needs Chromium at %s (apt-get install chromium, or set FAASFLOW_E2E_CHROMIUM): %v", p, err)
	}
	return p
}

// browser starts a headless Chromium that sends the gateway's login with
// every request, and returns its context.
func browser(t *testing.T, user, password string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	login := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	headers := network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + login}}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, headers); err != nil {
		t.Fatalf("give Chromium the login: %v", err)
	}
	return ctx
}

// screenshotDir is where the test writes its screenshots
// (FAASFLOW_E2E_SCREENSHOTS, default a temporary directory).
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("FAASFLOW_E2E_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// step runs browser actions with a deadline, failing the test with what
// the page showed when they do not complete.
func step(t *testing.T, ctx context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		page, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, page)
	}
}

// read runs one browser action that returns a value, within timeout.
func read[T any](t *testing.T, ctx context.Context, what string, timeout time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	step(t, ctx, "let the page settle", 5*time.Second, chromedp.Sleep(300*time.Millisecond))
	png := read(t, ctx, "screenshot "+name, 15*time.Second, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// visible waits for a CSS selector to match a visible element.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// click clicks the element a CSS selector matches once it is visible. The
// page re-renders its lists while it polls, so the element is found and
// clicked in one script run in the page (a click by node id can meet a node
// replaced in between); when the element is gone at that moment, it waits
// for it again.
func click(sel string) chromedp.Action[chromedp.Void] {
	script := `(function(){const e=document.querySelector(` + strconv.Quote(sel) + `); if(!e) return false; e.click(); return true})()`
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for {
			if _, err := visible(sel)(ctx, tg); err != nil {
				return err
			}
			clicked, err := chromedp.Evaluate[bool](script)(ctx, tg)
			if err != nil || clicked {
				return err
			}
		}
	})
}

// TestDashboardShowsAFlowAndControlsItsRequests drives the dashboard of the
// local gateway in a real browser: the flow's DAG is drawn with every kind
// of branch, a request's nodes turn succeeded, and a slow request is paused
// and resumed with the page's buttons.
func TestDashboardShowsAFlowAndControlsItsRequests(t *testing.T) {
	const jaeger = "http://jaeger.example:16686"
	s := startStackWith(t, func(o *gateway.LocalOptions) { o.JaegerURL = jaeger }, filepath.Join("testdata", "tour.yml"))
	user, password := s.Credentials()

	// The gateway's login guards the page and its API; / leads to it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/ui/", "/ui/api/flows"} {
		resp, err := noRedirect.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without login: %d, want 401", path, resp.StatusCode)
		}
	}
	// Of the two functions, only the flow is listed.
	if r := s.do(t, http.MethodGet, "/ui/api/flows", nil, nil); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), `"name":"tour"`) || strings.Contains(string(r.body), `"name":"upper"`) {
		t.Fatalf("GET /ui/api/flows: %d %s, want tour and not upper", r.status, r.body)
	}
	if resp, err := noRedirect.Get(s.URL() + "/"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /: %v %v, want 302 to /ui/", resp, err)
	}

	ctx := browser(t, user, password)
	shots := screenshotDir(t)
	step(t, ctx, "open the dashboard and pick the flow", 30*time.Second,
		chromedp.Navigate(s.URL()+"/ui/"),
		visible(`#flow-list a[data-flow="tour"]`),
		click(`#flow-list a[data-flow="tour"]`),
		visible(`#flow-dag svg g.node[data-node="split"]`),
		visible(`#flow-dag svg g.node[data-node="each[*]/shout"]`),
		visible(`#flow-dag svg g.node[data-node="size[long]/trim"]`),
		visible(`#flow-dag svg g.node[data-node="size[short]/pad"]`),
		visible(`#flow-dag svg g.node[data-node="done"]`),
	)

	// A quick request: it shows in the list, and its nodes turn succeeded.
	first := s.start(t, "/function/tour", "ab,cd,boom")
	row := `#requests tr[data-request="` + first + `"]`
	step(t, ctx, "see the request in the list", 30*time.Second, visible(row), click(row+" a"))
	step(t, ctx, "see the request succeed", 30*time.Second,
		visible(`#req-state.st-succeeded`),
		visible(`#req-dag g.node.st-succeeded[data-node="each"]`),
		visible(`#req-dag g.node.st-succeeded[data-node="done"]`),
		// One branch of the foreach failed, tolerated: its node shows it.
		visible(`#req-dag g.node.st-failed[data-node="each[*]/shout"]`),
		visible(`#runs tr[data-node="each[ab]/shout"]`),
		visible(`#runs tr.fault`),
	)
	fault := read(t, ctx, "read the fault record", 10*time.Second, chromedp.Text(chromedp.CSS(`#runs tr.fault`)))
	boom := read(t, ctx, "read the failed branch", 10*time.Second, chromedp.Text(chromedp.CSS(`#runs tr[data-node="each[boom]/shout"]`)))
	if !strings.Contains(fault, "boom") || !strings.Contains(fault, "shout refuses boom") ||
		!strings.Contains(boom, "failed") || !strings.Contains(boom, "2") {
		t.Fatalf("fault record %q, failed branch %q", fault, boom)
	}
	result := read(t, ctx, "read the result", 10*time.Second, chromedp.Text(chromedp.CSS(`#req-result`)))
	if !strings.Contains(result, "short:AB,CD.!") {
		t.Fatalf("result shown: %q", result)
	}
	trace := read(t, ctx, "read the trace link", 10*time.Second, chromedp.Evaluate[string](`document.getElementById("trace-link").href`))
	if !strings.HasPrefix(trace, jaeger+"/search?service=tour&tags=") || !strings.Contains(trace, first) {
		t.Fatalf("trace link %q", trace)
	}
	screenshot(t, ctx, shots, "dashboard-request.png")

	// A slow request: pause it from the page, see it paused, resume it.
	slow := s.start(t, "/function/tour?settle=12s", "gh,ij")
	step(t, ctx, "pause the slow request", 30*time.Second,
		chromedp.Navigate(s.URL()+"/ui/#/flow/tour/"+slow),
		visible(`#btn-pause:not([disabled])`),
		click(`#btn-pause`),
		visible(`#req-state.st-paused`),
	)
	screenshot(t, ctx, shots, "dashboard-paused.png")
	if st := s.state(t, "tour", slow); st != "paused" {
		t.Fatalf("after pressing pause the flow says %q", st)
	}

	// The flow's list shows both, and filters them by state.
	slowRow := `#requests tr[data-request="` + slow + `"]`
	step(t, ctx, "see both requests in the list", 15*time.Second,
		click(`#crumbs a`), visible(slowRow+`[data-state="paused"]`), visible(row+`[data-state="succeeded"]`))
	screenshot(t, ctx, shots, "dashboard-flow.png")
	step(t, ctx, "filter the list by state", 15*time.Second,
		chromedp.SetValue(chromedp.CSS(`#state-filter`), "paused"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.getElementById("state-filter").dispatchEvent(new Event("change"))`)(ctx, tg)
			return err
		}),
		chromedp.WaitNotPresent(chromedp.CSS(row)), visible(slowRow),
	)

	step(t, ctx, "resume it and see it finish", 45*time.Second,
		click(slowRow+" a"),
		visible(`#btn-resume:not([disabled])`),
		click(`#btn-resume`),
		visible(`#req-state.st-succeeded`),
		visible(`#req-dag g.node.st-succeeded[data-node="done"]`),
	)
	t.Logf("screenshots in %s", shots)
}

// start starts a request of a flow and returns its id.
func (s *stack) start(t *testing.T, path, body string) string {
	t.Helper()
	r := s.do(t, http.MethodPost, path, []byte(body), nil)
	id := r.header.Get("X-Faas-Flow-Reqid")
	if r.status != http.StatusAccepted || id == "" {
		t.Fatalf("POST %s: %d %s", path, r.status, r.body)
	}
	return id
}

// state returns the state of request id of flow as the flow reports it.
func (s *stack) state(t *testing.T, flow, id string) string {
	t.Helper()
	r := s.do(t, http.MethodGet, "/function/"+flow+"/flow/"+id+"/state", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("state of %s: %d %s", id, r.status, r.body)
	}
	return r.header.Get("X-Faas-Flow-State")
}
