package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/builder"
	"github.com/faas-flow/faas-flow/gateway/remotebuild"
	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

var imageUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// ndjsonLog turns build output into NDJSON in_progress lines.
type ndjsonLog struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	rc    *http.ResponseController
	image string
	buf   []byte
	all   []string
}

func (l *ndjsonLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	var lines []string
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(lines) > 0 {
		l.all = append(l.all, lines...)
		l.emitLocked(api.BuildResult{Log: lines, Image: l.image, Status: api.BuildInProgress})
	}
	return len(b), nil
}

func (l *ndjsonLog) emit(r api.BuildResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emitLocked(r)
}

func (l *ndjsonLog) emitLocked(r api.BuildResult) {
	if r.Log == nil {
		r.Log = []string{}
	}
	_ = json.NewEncoder(l.w).Encode(r)
	_ = l.rc.Flush()
}

// build implements faas-cli's remote builder: POST /build with a signed
// tar. What can be checked before reading the body is checked first (a
// usable X-Build-Signature, the declared length, a free build slot); the
// body is then streamed to an unlinked file while its HMAC is computed,
// and unpacked from that file once the signature matches.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	v, ok := s.admitBuild(w, r)
	if !ok {
		return
	}
	defer func() { <-s.buildSlots }()
	builds := filepath.Join(s.opts.StateDir, "builds")
	if err := os.MkdirAll(builds, 0o755); err != nil {
		refuseUnread(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	work, err := os.MkdirTemp(builds, "build-")
	if err != nil {
		refuseUnread(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.RemoveAll(work)
	upload, err := s.receiveBuild(w, r, v, work)
	if err != nil {
		var he *httpErr
		if !errors.As(err, &he) {
			he = &httpErr{http.StatusInternalServerError, err.Error()}
		}
		if he.code != http.StatusUnauthorized {
			// The rest of the body, if any, is not read.
			w.Header().Set("Connection", "close")
		}
		httpError(w, he.code, he.msg)
		return
	}
	ctxDir := filepath.Join(work, "context")
	cfg, err := remotebuild.ExtractTarMax(upload, ctxDir, s.opts.MaxBuildBytes)
	// Unpacked or not, the archive is of no more use: its file goes now,
	// not after the build.
	upload.Close()
	if err != nil {
		code := http.StatusBadRequest
		if !errors.Is(err, remotebuild.ErrBadTar) {
			code = http.StatusInternalServerError
		}
		httpError(w, code, err.Error())
		return
	}
	s.compileAndReport(w, r, cfg.Image, ctxDir)
}

// admitBuild checks what can be checked of a build request without reading
// its body, and takes a build slot. When it returns false, it has answered:
// 401 for a missing or malformed X-Build-Signature, 413 for a declared
// length over MaxBuildBytes, 429 with Retry-After when MaxConcurrentBuilds
// are in progress. When it returns true, the caller must free the slot.
func (s *Server) admitBuild(w http.ResponseWriter, r *http.Request) (*remotebuild.Verifier, bool) {
	v, err := remotebuild.NewVerifier(s.opts.PayloadSecret, r.Header.Get(api.HeaderBuildSignature))
	if err != nil {
		refuseUnread(w, r, http.StatusUnauthorized, "X-Build-Signature: "+err.Error())
		return nil, false
	}
	if r.ContentLength > s.opts.MaxBuildBytes {
		refuseUnread(w, r, http.StatusRequestEntityTooLarge, s.buildTooLarge(r.ContentLength))
		return nil, false
	}
	select {
	case s.buildSlots <- struct{}{}:
		return v, true
	default:
		w.Header().Set("Retry-After", strconv.Itoa(buildRetryAfter))
		refuseUnread(w, r, http.StatusTooManyRequests, fmt.Sprintf(
			"the builder runs %d builds at a time and all are in progress; try again later", s.opts.MaxConcurrentBuilds))
		return nil, false
	}
}

// compileAndReport compiles the unpacked context at ctxDir as image and
// streams the progress and the outcome to w as NDJSON.
func (s *Server) compileAndReport(w http.ResponseWriter, r *http.Request, image, ctxDir string) {
	lang := ""
	if t, err := stackfile.ReadTemplate(ctxDir); err == nil {
		lang = t.Language
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	log := &ndjsonLog{w: w, rc: http.NewResponseController(w), image: image}
	log.emit(api.BuildResult{Log: []string{"building " + image + " with the local Go toolchain (no Docker)"}, Image: image, Status: api.BuildInProgress})
	bin, err := s.compile(r.Context(), image, ctxDir, lang, log)
	if err != nil {
		var ce *builder.CompileError
		msg := err.Error()
		if errors.As(err, &ce) {
			msg = "build failed (" + ce.Err.Error() + "):\n" + ce.Output
		}
		log.emit(api.BuildResult{Image: image, Status: api.BuildFailed, Error: msg})
		return
	}
	s.pruneBinaries()
	s.opts.Logger.Info("built", "image", image, "lang", lang, "binary", bin)
	log.emit(api.BuildResult{Log: []string{"built " + image + " -> " + bin}, Image: image, Status: api.BuildSuccess})
}

// refuseUnread answers code with msg without reading r's body, and closes
// the connection after the answer when r has a body: otherwise the server
// would read up to 256 KiB of a chunked body before answering, to keep
// the connection.
func refuseUnread(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	httpError(w, code, msg)
}

// buildRetryAfter is the Retry-After, in seconds, of a build refused
// because MaxConcurrentBuilds are running.
const buildRetryAfter = 10

// httpErr is an error answered with its status code.
type httpErr struct {
	code int
	msg  string
}

func (e *httpErr) Error() string { return e.msg }

// buildTooLarge is the message of the 413 for a build archive over
// MaxBuildBytes: size is its declared length, or -1 when the limit was
// found while reading it.
func (s *Server) buildTooLarge(size int64) string {
	what := "build archive"
	if size >= 0 {
		what = fmt.Sprintf("build archive of %d bytes", size)
	}
	return fmt.Sprintf("%s is too large: the builder accepts at most %d bytes", what, s.opts.MaxBuildBytes)
}

// receiveBuild streams the body of a build request into a file in work
// while v computes its HMAC, then checks the signature. The body is never
// held in memory: it passes through one 32 KiB buffer. The file is
// unlinked as soon as it is created, so that nothing is left on disk by a
// failed upload, nor by a gateway killed mid-upload; the open file returned
// (read from its start) is the only reference to it. Reading stops with a
// 413 past MaxBuildBytes and with a 408 when the whole body has not
// arrived within BuildUploadTimeout; a signature that does not match is a
// 401. The error is an *httpErr, or a plain error for a local failure
// (500).
func (s *Server) receiveBuild(w http.ResponseWriter, r *http.Request, v *remotebuild.Verifier, work string) (*os.File, error) {
	f, err := os.CreateTemp(work, "upload-*.tar")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BuildUploadTimeout))
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBuildBytes)
	buf := make([]byte, 32<<10)
	var readErr error
	for {
		n, err := body.Read(buf)
		if n > 0 {
			v.Write(buf[:n])
			if _, werr := f.Write(buf[:n]); werr != nil {
				_ = rc.SetReadDeadline(time.Time{})
				return nil, fmt.Errorf("store the build archive: %w", werr)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	// The server goes on reading the connection (to see the client leave)
	// while the build runs: the deadline must not end that read.
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(readErr, &tooLarge):
		return nil, &httpErr{http.StatusRequestEntityTooLarge, s.buildTooLarge(-1)}
	case errors.Is(readErr, os.ErrDeadlineExceeded):
		return nil, &httpErr{http.StatusRequestTimeout, fmt.Sprintf(
			"build archive not received within %s", s.opts.BuildUploadTimeout)}
	case readErr != nil:
		return nil, &httpErr{http.StatusBadRequest, "read build archive: " + readErr.Error()}
	}
	if err := v.Check(); err != nil {
		return nil, &httpErr{http.StatusUnauthorized, "X-Build-Signature: " + err.Error()}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	keep = true
	return f, nil
}

// compile builds the context at ctxDir into a new binary under
// StateDir/bin and records it as image's.
func (s *Server) compile(ctx context.Context, image, ctxDir, lang string, log io.Writer) (string, error) {
	s.binaries.RLock()
	defer s.binaries.RUnlock()
	safe := imageUnsafe.ReplaceAllString(image, "_")
	out := filepath.Join(s.opts.StateDir, "bin", fmt.Sprintf("%s-%d", safe, time.Now().UnixNano()))
	bin, err := builder.Compile(ctx, builder.CompileSpec{
		Name: image, ContextDir: ctxDir, SDKDir: s.opts.SDKDir, Output: out,
		CacheDir: s.opts.BuildCacheDir, Log: log,
	})
	if err != nil {
		return "", err
	}
	if err := s.opts.Store.SetImage(image, bin, lang); err != nil {
		_ = os.Remove(bin)
		return "", err
	}
	return bin, nil
}

// pruneBinaries removes the binaries under StateDir/bin that neither an
// image nor a function refers to any more (replaced by a rebuild, or their
// function deleted). A process still running one keeps it until it exits.
// While a build is between compiling and registering its binary, nothing
// is removed: the next call does it.
func (s *Server) pruneBinaries() {
	if s.opts.StateDir == "" || !s.binaries.TryLock() {
		return
	}
	defer s.binaries.Unlock()
	dir := filepath.Join(s.opts.StateDir, "bin")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	used := s.opts.Store.BinaryNames()
	for _, e := range entries {
		if e.Type().IsRegular() && !used[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
				s.opts.Logger.Warn("remove an unused binary", "err", err)
			}
		}
	}
}

// clearBuilds removes what builds of an earlier run left under
// StateDir/builds (a gateway killed mid-build leaves its context there;
// its upload was never linked). The state dir is one gateway's, so no
// build of another is in progress there.
func (s *Server) clearBuilds() {
	if len(s.opts.PayloadSecret) == 0 {
		return
	}
	dir := filepath.Join(s.opts.StateDir, "builds")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			s.opts.Logger.Warn("remove what an earlier build left", "err", err)
		}
	}
}
