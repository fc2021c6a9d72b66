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

// ring keeps the last n lines and appends every line to a file. Followers
// wait on changed, which is closed (and replaced) at every new line and when
// the ring is closed.
type ring struct {
	mu      sync.Mutex
	lines   []LogLine
	next    int
	full    bool
	total   uint64 // lines ever added: the sequence number of the next line
	file    *os.File
	changed chan struct{}
	closed  bool
}

func newRing(n int, path string) *ring {
	r := &ring{lines: make([]LogLine, n), changed: make(chan struct{})}
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
	r.total++
	if r.file != nil {
		_, _ = r.file.WriteString(now.Format(time.RFC3339Nano) + " " + instance + " " + text + "\n")
	}
	if !r.closed {
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// tail returns up to n most recent lines (n <= 0: all kept lines), oldest first.
func (r *ring) tail(n int) []LogLine {
	lines, _, _ := r.snapshot(n)
	return lines
}

// snapshot is tail plus what a follower needs: the sequence number of the
// next line and a channel closed when it (or the end of the ring) comes.
func (r *ring) snapshot(n int) (lines []LogLine, next uint64, changed <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		lines = append(lines, r.lines[r.next:]...)
	}
	lines = append(lines, r.lines[:r.next]...)
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, r.total, r.changed
}

// since returns the kept lines numbered from seq on (lines that have
// already left the ring are skipped), the sequence number of the next line,
// a channel closed when it comes, and whether the ring is closed.
func (r *ring) since(seq uint64) (lines []LogLine, next uint64, changed <-chan struct{}, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := uint64(r.next)
	if r.full {
		kept = uint64(len(r.lines))
	}
	if first := r.total - kept; seq < first {
		seq = first
	}
	for ; seq < r.total; seq++ {
		lines = append(lines, r.lines[int(seq%uint64(len(r.lines)))])
	}
	return lines, r.total, r.changed, r.closed
}

// close ends the ring: the file is closed and followers are released.
func (r *ring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
	if !r.closed {
		r.closed = true
		close(r.changed)
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
