package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RoundTrip sends req to a replica of the function. For HTTP functions
// req.URL's path and query are kept and its host is replaced; classic
// functions fork fprocess.
//
// The replica is the ready one with the fewest calls in flight (a call is
// in flight until its response body is closed), taking turns among equals.
// When none is ready, the call waits for one (up to ReadyTimeout). When
// the connection to the chosen replica is refused, nothing has been sent:
// that replica leaves the rotation until its health check passes again and
// the call goes to another. Other transport errors (a process died
// mid-request) are returned as errors.
func (i *Instance) RoundTrip(req *http.Request) (*http.Response, error) {
	if i.classic {
		return i.runClassic(req)
	}
	held := holdBody(req)
	var body io.ReadCloser // nil: req's own body
	if held != nil {
		body = held
	}
	timeout := time.NewTimer(i.sup.opts.ReadyTimeout)
	defer timeout.Stop()
	for {
		r, c, err := i.acquire(req.Context(), timeout.C)
		if err != nil {
			held.release(true)
			return nil, err
		}
		resp, err := c.tr.RoundTrip(target(req, c.port, body))
		if err == nil {
			held.release(false)
			resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { i.release(r) }, call: c.callError}
			return resp, nil
		}
		i.release(r)
		if !refused(err) {
			held.release(true)
			return nil, c.callError(err)
		}
		r.refused()
		if body, err = again(req, held); err != nil {
			return nil, err
		}
	}
}

// again is the body of the next attempt after a refused connection: the
// held body, unread, or a new copy of req's body (nil when req has none).
func again(req *http.Request, held *heldBody) (io.ReadCloser, error) {
	if held != nil {
		held.rewind()
		return held, nil
	}
	if req.GetBody == nil {
		return nil, nil
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("supervisor: the body of a call to %s again: %w", req.URL.Path, err)
	}
	return b, nil
}

// sent is where a call went: the process of a replica, on its port.
type sent struct {
	fn      string
	replica int
	pid     int
	port    int
	tr      *http.Transport
}

// callError wraps err, a failure of the call, in a *CallError naming the
// process.
func (c sent) callError(err error) error {
	return &CallError{Function: c.fn, Replica: c.replica, PID: c.pid, Err: err}
}

// acquire picks a ready replica (see pickLocked) and counts the call on it,
// waiting for one when none is ready.
func (i *Instance) acquire(ctx context.Context, timeout <-chan time.Time) (*replica, sent, error) {
	for {
		i.mu.Lock()
		if r := i.pickLocked(); r != nil {
			r.inflight++
			c := sent{fn: i.spec.Name, replica: r.index, pid: r.pid, port: r.port, tr: r.tr}
			i.mu.Unlock()
			return r, c, nil
		}
		ch := i.changed
		i.mu.Unlock()
		if err := i.wait(ctx, ch, timeout); err != nil {
			return nil, sent{}, err
		}
	}
}

// pickLocked is the ready replica with the fewest calls in flight; among
// equals, the first one after the replica picked last. nil when none is
// ready or the function has stopped. i.mu is held.
func (i *Instance) pickLocked() *replica {
	n := len(i.replicas)
	if i.stopped || n == 0 {
		return nil
	}
	var best *replica
	at := 0
	for k := range n {
		j := (i.next + k) % n
		r := i.replicas[j]
		if r.ready && r.tr != nil && (best == nil || r.inflight < best.inflight) {
			best, at = r, j
		}
	}
	if best != nil {
		i.next = (at + 1) % n
	}
	return best
}

// release ends a call counted on r by acquire.
func (i *Instance) release(r *replica) {
	i.mu.Lock()
	r.inflight--
	i.mu.Unlock()
}

// target is req aimed at the process on port, with body (nil: req's own).
func target(req *http.Request, port int, body io.ReadCloser) *http.Request {
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme = "http"
	u.Host = "127.0.0.1:" + strconv.Itoa(port)
	out.URL = &u
	out.Host = u.Host
	out.RequestURI = ""
	if body != nil {
		out.Body = body
	}
	return out
}

// refused reports whether err is a failure to connect: nothing was sent.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// heldBody is a request body whose Close is held back while the call may
// still go to another replica: the transport closes the body of a call
// that failed, even one that failed before reading any of it. Only a body
// the request cannot make again (no GetBody) is held: a body in memory is
// sent as it is, so that the transport still writes it with the headers.
type heldBody struct {
	rc io.ReadCloser

	mu     sync.Mutex
	held   bool // a Close now is recorded, not done
	asked  bool // Close was called while held
	closed bool
}

// holdBody holds req's body, or returns nil when req has none (nil or
// http.NoBody) or can make it again.
func holdBody(req *http.Request) *heldBody {
	if req.Body == nil || req.Body == http.NoBody || req.GetBody != nil {
		return nil
	}
	return &heldBody{rc: req.Body, held: true}
}

func (b *heldBody) Read(p []byte) (int, error) { return b.rc.Read(p) }

func (b *heldBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held {
		b.asked = true
		return nil
	}
	return b.closeLocked()
}

func (b *heldBody) closeLocked() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.rc.Close()
}

// rewind forgets a Close of the attempt that failed to connect: the body,
// unread, goes with the next attempt.
func (b *heldBody) rewind() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.asked = false
	b.mu.Unlock()
}

// release stops holding Close back: the body is closed now if the
// transport asked for it already, or if closeNow (the call is over).
func (b *heldBody) release(closeNow bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held = false
	if closeNow || b.asked {
		_ = b.closeLocked()
	}
}

// releasingBody is a response body that ends its call's count on its
// replica when it is closed, and whose read errors (other than io.EOF)
// name the process (see CallError).
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
	call    func(error) error
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.call(err)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
