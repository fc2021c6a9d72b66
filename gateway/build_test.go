package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
	"github.com/faas-flow/faas-flow/gateway/store"
	"github.com/faas-flow/faas-flow/gateway/supervisor"
)

// buildSecret is the payload secret of the builders these tests start.
var buildSecret = []byte("build-test-secret")

// wrongSignature is a well-formed X-Build-Signature that signs nothing sent.
var wrongSignature = "sha256=" + strings.Repeat("ab", 32)

// builderServer starts a gateway API in this process with the builder on
// (the options o set, plus a registry, a supervisor and a state dir of its
// own), behind a real HTTP server. It returns the server's URL and the
// state dir.
func builderServer(t *testing.T, o Options) (string, string) {
	t.Helper()
	dir := t.TempDir()
	reg, err := store.Open(filepath.Join(dir, "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(supervisor.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	o.Store, o.Supervisor, o.StateDir = reg, sup, dir
	o.PayloadSecret, o.SDKDir, o.BuildCacheDir = buildSecret, repoRoot, buildCache
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, dir
}

// pattern is what patternReader sends, over and over.
var pattern = bytes.Repeat([]byte("faasflow build flood "), 1600)

// patternReader is a request body of n bytes made as it is read, so that a
// large upload is never held in the test's memory.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		n += copy(b[n:], pattern)
	}
	p.left -= int64(n)
	return n, nil
}

// stallFor bounds how long a stalledBody stalls: a client blocked writing
// it cannot give up before, even when its context ends.
const stallFor = 30 * time.Second

// stalledBody is a request body that sends nothing until it is closed (or
// for stallFor).
type stalledBody struct{ done chan struct{} }

func (s stalledBody) Read([]byte) (int, error) {
	select {
	case <-s.done:
	case <-time.After(stallFor):
	}
	return 0, errors.New("stalled body closed")
}

// postBuild POSTs body to url/build with the signature sig (none when
// empty) and a Content-Length of size (-1: chunked), and returns the
// status, the Retry-After and the body of the answer.
func postBuild(url, sig string, body io.Reader, size int64) (int, string, string, error) {
	return postBuildWithin(2*time.Minute, url, sig, body, size)
}

// postBuildWithin is postBuild giving up after d: a builder that waits for
// a body that never comes, instead of answering, fails the test in d.
func postBuildWithin(d time.Duration, url, sig string, body io.Reader, size int64) (int, string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/build", body)
	if err != nil {
		return 0, "", "", err
	}
	req.ContentLength = size
	if sig != "" {
		req.Header.Set(api.HeaderBuildSignature, sig)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b), nil
}

// signedBuild is a signed remote-builder tar of the test worker function.
func signedBuild(t *testing.T, image string) ([]byte, string) {
	t.Helper()
	ctxDir := t.TempDir()
	copyDir(t, repoRoot+"/template/golang-middleware", ctxDir)
	copyDir(t, handlerDir, ctxDir+"/function")
	var buf bytes.Buffer
	if err := remotebuild.WriteTar(&buf, ctxDir, api.BuildConfig{Image: image}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), remotebuild.Sign(buf.Bytes(), buildSecret)
}

// buildSucceeds posts a signed build of image and fails the test unless
// the builder answers with a successful build.
func buildSucceeds(t *testing.T, url, image string) {
	t.Helper()
	payload, sig := signedBuild(t, image)
	code, _, body, err := postBuild(url, sig, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var last api.BuildResult
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if code != http.StatusOK || last.Status != api.BuildSuccess || last.Image != image {
		t.Fatalf("signed build = %d %q", code, body)
	}
}

// buildsLeft lists what is under the state dir's builds/ (nothing once no
// build is in progress).
func buildsLeft(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	root := filepath.Join(dir, "builds")
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != root {
			left = append(left, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return left
}

func TestBuildRefusesAMissingOrMalformedSignatureBeforeReadingTheBody(t *testing.T) {
	url, _ := builderServer(t, Options{})
	for _, sig := range []string{"", "sha1=" + strings.Repeat("ab", 20), "sha256=zz", "sha256=abcd", "sha256=" + strings.Repeat("ab", 33)} {
		t.Run(fmt.Sprintf("%q", sig), func(t *testing.T) {
			// The body never arrives: only an answer that does not wait for
			// it comes back.
			body := stalledBody{make(chan struct{})}
			defer close(body.done)
			start := time.Now()
			code, _, msg, err := postBuildWithin(20*time.Second, url, sig, body, 100<<20)
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusUnauthorized || !strings.Contains(msg, "X-Build-Signature") {
				t.Fatalf("answer = %d %q, want 401 about X-Build-Signature", code, msg)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("answered after %s", d)
			}
		})
	}
}

func TestBuildRefusesADeclaredLengthOverTheLimitBeforeReadingTheBody(t *testing.T) {
	url, _ := builderServer(t, Options{MaxBuildBytes: 1 << 20})
	body := stalledBody{make(chan struct{})}
	defer close(body.done)
	code, _, msg, err := postBuildWithin(20*time.Second, url, wrongSignature, body, 1<<20+1)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most 1048576 bytes") {
		t.Fatalf("answer = %d %q, want 413 naming the limit", code, msg)
	}
}

func TestBuildStopsReadingAtTheLimitAndLeavesNoFile(t *testing.T) {
	url, dir := builderServer(t, Options{MaxBuildBytes: 1 << 20})
	// Chunked: the limit is found while reading. The body is larger than
	// the limit by far, and the answer comes once the limit is passed.
	code, _, msg, err := postBuild(url, wrongSignature, &patternReader{left: 64 << 20}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most 1048576 bytes") {
		t.Fatalf("answer = %d %q, want 413 naming the limit", code, msg)
	}
	if left := buildsLeft(t, dir); len(left) > 0 {
		t.Fatalf("builds/ holds %v after a refused upload", left)
	}
}

func TestBuildWithAWrongSignatureIsReadToTheEndThenRefusedAndLeavesNoFile(t *testing.T) {
	url, dir := builderServer(t, Options{})
	payload, _ := signedBuild(t, "wrong:1")
	for _, sig := range []string{wrongSignature, remotebuild.Sign(payload, []byte("another secret"))} {
		code, _, msg, err := postBuild(url, sig, bytes.NewReader(payload), int64(len(payload)))
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized || !strings.Contains(msg, "invalid signature") {
			t.Fatalf("answer = %d %q, want 401 invalid signature", code, msg)
		}
		if left := buildsLeft(t, dir); len(left) > 0 {
			t.Fatalf("builds/ holds %v after a refused upload", left)
		}
	}
}

func TestBuildsBeyondTheLimitAreRefused429WithRetryAfter(t *testing.T) {
	url, dir := builderServer(t, Options{MaxConcurrentBuilds: 2})
	// Two uploads that stall hold the two slots.
	var wg sync.WaitGroup
	stalled := stalledBody{make(chan struct{})}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _, _ = postBuild(url, wrongSignature, io.MultiReader(strings.NewReader("x"), stalled), -1)
		}()
	}
	// A slot is taken before the upload's directory under builds/ is made.
	deadline := time.Now().Add(10 * time.Second)
	for len(buildsLeft(t, dir)) < 2 {
		if time.Now().After(deadline) {
			close(stalled.done)
			t.Fatalf("the stalled uploads did not start: builds/ holds %v", buildsLeft(t, dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
	body := stalledBody{make(chan struct{})}
	defer close(body.done)
	code, retry, msg, err := postBuildWithin(20*time.Second, url, wrongSignature, body, 10<<20)
	if err != nil {
		close(stalled.done)
		t.Fatal(err)
	}
	if code != http.StatusTooManyRequests || retry != "10" || !strings.Contains(msg, "2 builds at a time") {
		close(stalled.done)
		t.Fatalf("third build = %d Retry-After %q %q, want 429 with Retry-After 10", code, retry, msg)
	}
	close(stalled.done)
	wg.Wait()
	// The slots are free again once the servers' handlers of the
	// abandoned uploads have returned (the clients may see their end
	// first).
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, _, msg, _ := postBuild(url, wrongSignature, strings.NewReader("tar"), 3)
		if code == http.StatusUnauthorized {
			break
		}
		if code != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("build after the slots were freed = %d %q, want 401", code, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBuildUploadThatStallsIsAnswered408(t *testing.T) {
	url, dir := builderServer(t, Options{BuildUploadTimeout: 300 * time.Millisecond})
	body := stalledBody{make(chan struct{})}
	defer close(body.done)
	code, _, msg, err := postBuildWithin(20*time.Second, url, wrongSignature, io.MultiReader(strings.NewReader("x"), body), -1)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusRequestTimeout {
		t.Fatalf("answer = %d %q, want 408", code, msg)
	}
	if left := buildsLeft(t, dir); len(left) > 0 {
		t.Fatalf("builds/ holds %v after a refused upload", left)
	}
}

// floodHeapBound and floodSysBound bound what a flood of POST /build
// (floodUploads uploads of floodSize bytes at once, wrongly signed, and as
// many unsigned) may add to the gateway's memory: to the heap in use at
// any moment during the flood, and to the memory the process holds from
// the OS (runtime.MemStats.Sys) after it. Reading an upload into memory
// first, as the builder once did, adds floodSize per upload to both.
const (
	floodUploads   = 4
	floodSize      = 200 << 20
	floodHeapBound = 64 << 20
	floodSysBound  = 128 << 20
)

func TestBuildFloodKeepsGatewayMemoryBounded(t *testing.T) {
	url, dir := builderServer(t, Options{MaxConcurrentBuilds: floodUploads})

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peakHeap, peakSys atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakHeap.Load() {
				peakHeap.Store(m.HeapInuse)
			}
			if m.Sys > peakSys.Load() {
				peakSys.Store(m.Sys)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	type outcome struct {
		signed bool
		code   int
		err    error
	}
	results := make(chan outcome, 2*floodUploads)
	for i := 0; i < 2*floodUploads; i++ {
		signed := i%2 == 0
		go func() {
			sig := ""
			if signed {
				sig = wrongSignature
			}
			code, _, _, err := postBuild(url, sig, &patternReader{left: floodSize}, floodSize)
			results <- outcome{signed, code, err}
		}()
	}
	for i := 0; i < 2*floodUploads; i++ {
		r := <-results
		switch {
		case r.signed && (r.err != nil || r.code != http.StatusUnauthorized):
			t.Errorf("wrongly signed upload: %d %v, want 401 once read", r.code, r.err)
		case !r.signed && r.err == nil && r.code != http.StatusUnauthorized:
			// An unsigned upload is answered 401 at once and its connection
			// closed: the client may see the closed connection first.
			t.Errorf("unsigned upload: %d, want 401", r.code)
		}
	}
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stop)
	<-sampled

	heapGrowth := int64(peakHeap.Load()) - int64(base.HeapInuse)
	sysGrowth := int64(after.Sys) - int64(base.Sys)
	t.Logf("%d × %d MiB wrongly signed and %d unsigned in %s: heap in use %d MiB before, peak %d MiB (+%d MiB), %d MiB after; Sys %d MiB before, peak %d MiB, %d MiB after (+%d MiB)",
		floodUploads, floodSize>>20, floodUploads, took.Round(time.Millisecond),
		base.HeapInuse>>20, peakHeap.Load()>>20, heapGrowth>>20, after.HeapInuse>>20,
		base.Sys>>20, peakSys.Load()>>20, after.Sys>>20, sysGrowth>>20)
	if heapGrowth > floodHeapBound {
		t.Errorf("heap in use grew by %d MiB during the flood, bound %d MiB", heapGrowth>>20, floodHeapBound>>20)
	}
	if sysGrowth > floodSysBound {
		t.Errorf("memory from the OS grew by %d MiB and stayed, bound %d MiB", sysGrowth>>20, floodSysBound>>20)
	}
	if left := buildsLeft(t, dir); len(left) > 0 {
		t.Errorf("builds/ holds %v after the flood", left)
	}
	// The builder still builds.
	buildSucceeds(t, url, "after-flood:1")
	if left := buildsLeft(t, dir); len(left) > 0 {
		t.Errorf("builds/ holds %v after a build", left)
	}
}

func TestBuildContextsLeftByAnEarlierRunAreRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	left := filepath.Join(dir, "builds", "build-1", "context")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := store.Open(filepath.Join(dir, "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(supervisor.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	if _, err := NewServer(Options{Store: reg, Supervisor: sup, StateDir: dir, PayloadSecret: buildSecret, SDKDir: repoRoot}); err != nil {
		t.Fatal(err)
	}
	if left := buildsLeft(t, dir); len(left) > 0 {
		t.Fatalf("builds/ holds %v after the gateway started", left)
	}
}
