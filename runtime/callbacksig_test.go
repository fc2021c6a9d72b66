package runtime_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/engine"
	"github.com/faas-flow/faas-flow/internal/fakegateway"
	"github.com/faas-flow/faas-flow/runtime"
)

func TestVerifyCallbackRefusesAnythingChanged(t *testing.T) {
	key, now := []byte("secret"), time.Unix(1_800_000_000, 0)
	body := []byte(`{"total":3}`)
	sig := runtime.SignCallback(key, now, "req-1", "succeeded", body)
	other := strings.Replace(sig, "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()+1, 10), 1)
	tests := []struct {
		name              string
		key               []byte
		header, id, state string
		body              []byte
		at                time.Time
		ok                bool
	}{
		{"as sent", key, sig, "req-1", "succeeded", body, now, true},
		{"a minute later", key, sig, "req-1", "succeeded", body, now.Add(time.Minute), true},
		{"another timestamp", key, other, "req-1", "succeeded", body, now, false},
		{"another request", key, sig, "req-2", "succeeded", body, now, false},
		{"another state", key, sig, "req-1", "failed", body, now, false},
		{"another body", key, sig, "req-1", "succeeded", []byte(`{"total":4}`), now, false},
		{"another key", []byte("other"), sig, "req-1", "succeeded", body, now, false},
		{"replayed after the window", key, sig, "req-1", "succeeded", body, now.Add(runtime.CallbackWindow + time.Second), false},
		{"dated past the window ahead", key, sig, "req-1", "succeeded", body, now.Add(-runtime.CallbackWindow - time.Second), false},
		{"the old body signature", key, runtime.Sign(key, body), "req-1", "succeeded", body, now, false},
		{"empty", key, "", "req-1", "succeeded", body, now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runtime.VerifyCallback(tt.key, tt.header, tt.id, tt.state, tt.body, tt.at, runtime.CallbackWindow)
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, runtime.ErrCallbackSignature) {
				t.Fatalf("VerifyCallback = %v, want ok %v", err, tt.ok)
			}
		})
	}
	// Two requests that failed with the same output are signed apart.
	a := runtime.SignCallback(key, now, "req-a", "failed", []byte("handled"))
	b := runtime.SignCallback(key, now, "req-b", "failed", []byte("handled"))
	if a == b {
		t.Fatal("two requests with one output share a signature")
	}
}

// verify is the docs' snippet (docs/callbacks.md), character for character;
// TestCallbackSnippetOfTheDocsVerifiesARealCallback checks both.
func verify(key []byte, header, id, state string, body []byte) bool {
	var t, v1 string
	for _, part := range strings.Split(header, ",") {
		if k, v, _ := strings.Cut(part, "="); k == "t" {
			t = v
		} else if k == "v1" {
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t + "." + id + "." + state + "."))
	m.Write(body)
	return hmac.Equal([]byte(v1), []byte(hex.EncodeToString(m.Sum(nil))))
}

func TestCallbackSnippetOfTheDocsVerifiesARealCallback(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "callbacks.md"))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("callbacksig_test.go")
	if err != nil {
		t.Fatal(err)
	}
	snippet := strings.TrimPrefix(between(t, string(doc), "```go\n", "```\n"), "```go\n")
	code := strings.TrimPrefix(between(t, string(self), "\nfunc verify(", "\n}\n"), "\n") + "\n}\n"
	if code != snippet {
		t.Fatalf("docs/callbacks.md's snippet is not the verify function of this test:\n%s", snippet)
	}
	cb := fakegateway.NewCallbackReceiver(t, 0)
	n := runtime.NewCallbackNotifier(runtime.NotifierOptions{Key: []byte("flow-secret")})
	defer n.Close(context.Background())
	if err := n.Notify(context.Background(), engine.Completion{URL: cb.URL(), Flow: "f", RequestID: "r9", State: "succeeded", Result: []byte("done")}); err != nil {
		t.Fatal(err)
	}
	got := cb.Wait(t)
	if !verify([]byte("flow-secret"), got.Header.Get("X-Faas-Flow-Signature"), got.Header.Get("X-Faas-Flow-Reqid"), got.Header.Get("X-Faas-Flow-State"), got.Body) {
		t.Fatalf("the snippet refuses a genuine callback: %v", got.Header)
	}
	if verify([]byte("flow-secret"), got.Header.Get("X-Faas-Flow-Signature"), "r10", got.Header.Get("X-Faas-Flow-State"), got.Body) {
		t.Fatal("the snippet accepts a callback relabelled to another request")
	}
}

// between returns the text of s from the first from to the next to after
// it, from included, to excluded.
func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("no %q", from)
	}
	j := strings.Index(s[i+len(from):], to)
	if j < 0 {
		t.Fatalf("no %q after %q", to, from)
	}
	return s[i : i+len(from)+j]
}
