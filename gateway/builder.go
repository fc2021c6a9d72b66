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

// build implements faas-cli's remote builder: POST /build with a signed tar.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, remotebuild.MaxBytes))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, "build archive too large or unreadable: "+err.Error())
		return
	}
	if err := remotebuild.Verify(payload, s.opts.PayloadSecret, r.Header.Get(api.HeaderBuildSignature)); err != nil {
		httpError(w, http.StatusUnauthorized, "X-Build-Signature: "+err.Error())
		return
	}
	if err := os.MkdirAll(filepath.Join(s.opts.StateDir, "builds"), 0o755); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	work, err := os.MkdirTemp(filepath.Join(s.opts.StateDir, "builds"), "build-")
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer os.RemoveAll(work)
	ctxDir := filepath.Join(work, "context")
	cfg, err := remotebuild.ExtractTar(bytes.NewReader(payload), ctxDir)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	lang := ""
	if t, err := stackfile.ReadTemplate(ctxDir); err == nil {
		lang = t.Language
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	log := &ndjsonLog{w: w, rc: http.NewResponseController(w), image: cfg.Image}
	log.emit(api.BuildResult{Log: []string{"building " + cfg.Image + " with the local Go toolchain (no Docker)"}, Image: cfg.Image, Status: api.BuildInProgress})
	bin, err := s.compile(r.Context(), cfg.Image, ctxDir, lang, log)
	if err != nil {
		var ce *builder.CompileError
		msg := err.Error()
		if errors.As(err, &ce) {
			msg = "build failed (" + ce.Err.Error() + "):\n" + ce.Output
		}
		log.emit(api.BuildResult{Image: cfg.Image, Status: api.BuildFailed, Error: msg})
		return
	}
	s.pruneBinaries()
	s.opts.Logger.Info("built", "image", cfg.Image, "lang", lang, "binary", bin)
	log.emit(api.BuildResult{Log: []string{"built " + cfg.Image + " -> " + bin}, Image: cfg.Image, Status: api.BuildSuccess})
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
