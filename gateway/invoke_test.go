package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSyncInvokeCarriesBodiesOfEverySizeUnchanged covers both ways forward
// sends a body: read into memory (up to smallBody) and streamed.
func TestSyncInvokeCarriesBodiesOfEverySizeUnchanged(t *testing.T) {
	l := sharedLocal(t)
	deploy(t, l, fnDef{name: "f-bodies"})
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"small", 300},
		{"largest read into memory", smallBody},
		{"smallest streamed", smallBody + 1},
		{"several copy buffers", 200 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("abcdefghij", tt.size/10+1)[:tt.size]
			r := do(t, "POST", l.URL()+"/function/f-bodies/path", body, nil)
			if want := "POST /path? " + body; r.code != 200 || r.body != want {
				t.Fatalf("got %d, %d bytes (%.60q); want 200 and the %d-byte body echoed", r.code, len(r.body), r.body, tt.size)
			}
		})
	}
}

// TestSyncInvokeNeverCutsABodyOverTheLimit proves that a body over
// MaxBodyBytes is refused with 413, or, when the function's answer has
// already started, breaks that answer off; it is never a success with the
// body cut short. "/" reads the whole body before answering; "/stream"
// echoes it while it arrives.
func TestSyncInvokeNeverCutsABodyOverTheLimit(t *testing.T) {
	const limit = 256 << 10
	o := fastOptions(t.TempDir())
	o.MaxBodyBytes = limit
	l := startLocal(t, o)
	deploy(t, l, fnDef{name: "f-limit"})
	tests := []struct {
		name     string
		path     string
		size     int
		declared bool // Content-Length sent, else a chunked body
		staged   bool // the last part of the body is sent once the answer has started
		// whole: 200 and the body echoed; refused: 413 from the gateway;
		// broken: 200 (sent before the limit was reached) and a body that
		// ends early.
		want string
	}{
		{"declared length at the limit is echoed whole", "/stream", limit, true, true, "whole"},
		{"chunked body at the limit is echoed whole", "/stream", limit, false, true, "whole"},
		{"chunked body at the limit is read whole", "/", limit, false, false, "whole"},
		{"declared length over the limit is refused before the call", "/stream", 2 * limit, true, true, "refused"},
		{"declared length over the limit is refused for a reading function", "/", limit + 1, true, false, "refused"},
		{"chunked body over the limit is refused before the function answers", "/", 2 * limit, false, false, "refused"},
		{"chunked body over the limit breaks off a streamed answer", "/stream", 2 * limit, false, true, "broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat("0123456789abcdef", tt.size/16+1)[:tt.size]
			code, header, got, readErr := post(t, l.URL()+"/function/f-limit"+tt.path, body, tt.declared, tt.staged)
			refused := code == http.StatusRequestEntityTooLarge && readErr == nil &&
				header.Get("X-OpenFaaS-Internal") == "gateway" &&
				strings.Contains(got, fmt.Sprintf("the gateway accepts at most %d bytes", limit))
			want := body
			if tt.path == "/" {
				want = "POST /? " + body
			}
			var ok bool
			switch tt.want {
			case "whole":
				ok = code == http.StatusOK && readErr == nil && got == want
			case "refused":
				ok = refused
			case "broken":
				ok = code == http.StatusOK && readErr != nil
			}
			if !ok {
				t.Fatalf("want %s; got %d, %d bytes (%.80q), body read error %v", tt.want, code, len(got), got, readErr)
			}
		})
	}
}

// post sends body to url, with its length declared or chunked, and returns
// the answer's status, headers and body, and the error that ended reading
// the body early, if any. A staged body is sent in two parts, the second
// once the answer's headers have arrived (or after 10 seconds, so that a
// gateway that waits for the whole body fails the test instead of hanging).
func post(t *testing.T, url, body string, declared, staged bool) (int, http.Header, string, error) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	if declared {
		req.ContentLength = int64(len(body))
	}
	split := len(body)
	if staged {
		split = min(64<<10, len(body))
	}
	answered := make(chan struct{})
	go func() {
		if _, err := io.WriteString(pw, body[:split]); err != nil {
			return
		}
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(pw, body[split:])
		_ = pw.Close()
	}()
	if !staged {
		close(answered)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if staged {
		close(answered)
	}
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}
