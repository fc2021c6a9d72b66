package supervisor

import (
	"bytes"
	"os"
	"sync"
	"time"
)

// LogLine is one line of a function's output.
type LogLine struct {
	Time     time.Time
	Instance string
	Text     string
}

// ring keeps the last n lines and appends every line to a file.
type ring struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
	file  *os.File
}

func newRing(n int, path string) *ring {
	r := &ring{lines: make([]LogLine, n)}
	if path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			r.file = f
		}
	}
	return r
}

func (r *ring) add(instance, text string) {
	now := time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = LogLine{Time: now, Instance: instance, Text: text}
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	if r.file != nil {
		_, _ = r.file.WriteString(now.Format(time.RFC3339Nano) + " " + instance + " " + text + "\n")
	}
}

// tail returns up to n most recent lines (n <= 0: all kept lines), oldest first.
func (r *ring) tail(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LogLine
	if r.full {
		out = append(out, r.lines[r.next:]...)
	}
	out = append(out, r.lines[:r.next]...)
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (r *ring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
}

// lineWriter splits a process's output into lines for the ring.
type lineWriter struct {
	mu       sync.Mutex
	r        *ring
	instance string
	buf      []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.r.add(w.instance, string(bytes.TrimRight(w.buf[:i], "\r")))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.r.add(w.instance, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.r.add(w.instance, string(w.buf))
		w.buf = nil
	}
}
