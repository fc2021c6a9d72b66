package supervisor

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Instance is one supervised function: its replicas (one process each for
// an HTTP function), the log they share, and the spreading of calls over
// the replicas that are ready (see RoundTrip).
type Instance struct {
	sup     *Supervisor
	spec    Spec
	logs    *ring
	mount   string
	workDir string
	timeout time.Duration
	classic bool

	mu       sync.Mutex
	replicas []*replica // replica k+1 at index k; empty for classic functions
	want     int        // replicas asked for (a classic function only counts them)
	next     int        // where the next pick starts looking: turns among equals
	restarts int
	changed  chan struct{} // closed and replaced when readiness or the set changes
	stopped  bool
	stopCh   chan struct{}
}

func newInstance(s *Supervisor, spec Spec, logs *ring, mount, workDir string) *Instance {
	return &Instance{
		sup: s, spec: spec, logs: logs, mount: mount, workDir: workDir,
		timeout: execTimeout(spec.Env, s.opts.DefaultTimeout),
		classic: spec.Binary == "", want: max(spec.Replicas, 1),
		changed: make(chan struct{}), stopCh: make(chan struct{}),
	}
}

// Name is the function's name.
func (i *Instance) Name() string { return i.spec.Name }

// Timeout is the function's exec timeout.
func (i *Instance) Timeout() time.Duration { return i.timeout }

// Ready reports whether the function can serve requests now: at least one
// of its replicas passes its health check (a classic function always can).
func (i *Instance) Ready() bool { return i.AvailableReplicas() > 0 }

// Replicas is the number of replicas the function runs (asked for).
func (i *Instance) Replicas() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.want
}

// AvailableReplicas counts the replicas that pass their health check. A
// classic function, which starts a process per call, counts as all ready.
func (i *Instance) AvailableReplicas() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopped {
		return 0
	}
	if i.classic {
		return i.want
	}
	n := 0
	for _, r := range i.replicas {
		if r.ready {
			n++
		}
	}
	return n
}

// Restarts counts restarts after crashes, over all replicas.
func (i *Instance) Restarts() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.restarts
}

// PID is the process id of the first replica (0 when it is not running,
// and for classic functions).
func (i *Instance) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.replicas) == 0 {
		return 0
	}
	return i.replicas[0].pid
}

// PIDs are the process ids of the replicas, in replica order (0 for a
// replica whose process is not running).
func (i *Instance) PIDs() []int {
	i.mu.Lock()
	defer i.mu.Unlock()
	pids := make([]int, len(i.replicas))
	for k, r := range i.replicas {
		pids[k] = r.pid
	}
	return pids
}

// Logs returns the last n lines of output, of every replica.
func (i *Instance) Logs(n int) []LogLine { return i.logs.tail(n) }

// setReadyLocked records r's readiness and wakes the waiters when it
// changed. i.mu is held.
func (i *Instance) setReadyLocked(r *replica, ok bool) {
	if ok {
		r.everReady = true
	}
	if r.ready == ok {
		return
	}
	r.ready = ok
	i.broadcastLocked()
}

// crashingLocked returns an ErrCrashing error when no replica is ready and
// one has exited CrashLimit times without ever passing its health check:
// it fails at start, and waiting for it is pointless. i.mu is held.
func (i *Instance) crashingLocked() error {
	crashed := false
	for _, r := range i.replicas {
		if r.ready {
			return nil
		}
		crashed = crashed || !r.everReady && r.crashes >= CrashLimit
	}
	if !crashed {
		return nil
	}
	return fmt.Errorf("%w: %s exited %d times before passing its health check; its last output:\n%s",
		ErrCrashing, i.spec.Name, CrashLimit, i.lastOutput(8))
}

// lastOutput returns the last n lines the function's processes wrote (not
// the supervisor's own notes), indented.
func (i *Instance) lastOutput(n int) string {
	var out []string
	for _, l := range i.logs.tail(200) {
		if l.Instance != "supervisor" {
			out = append(out, "  "+l.Text)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	if len(out) == 0 {
		return "  (none)"
	}
	return strings.Join(out, "\n")
}

// broadcastLocked wakes everything waiting for a change. i.mu is held.
func (i *Instance) broadcastLocked() {
	close(i.changed)
	i.changed = make(chan struct{})
}

// WaitReady blocks until a replica of the function is ready, ctx ends or
// the supervisor's ReadyTimeout passes, and returns that replica's port
// (0 for classic functions).
func (i *Instance) WaitReady(ctx context.Context) (port int, err error) {
	t := time.NewTimer(i.sup.opts.ReadyTimeout)
	defer t.Stop()
	for {
		i.mu.Lock()
		if i.stopped {
			i.mu.Unlock()
			return 0, fmt.Errorf("%w: %s", ErrStopped, i.spec.Name)
		}
		if i.classic {
			i.mu.Unlock()
			return 0, nil
		}
		for _, r := range i.replicas {
			if r.ready {
				p := r.port
				i.mu.Unlock()
				return p, nil
			}
		}
		if err := i.crashingLocked(); err != nil {
			i.mu.Unlock()
			return 0, err
		}
		ch := i.changed
		i.mu.Unlock()
		if err := i.wait(ctx, ch, t.C); err != nil {
			return 0, err
		}
	}
}

// wait blocks until changed is closed (nil), or returns why it gave up:
// the function stopped, ctx ended, or timeout fired.
func (i *Instance) wait(ctx context.Context, changed <-chan struct{}, timeout <-chan time.Time) error {
	select {
	case <-changed:
		return nil
	case <-i.stopCh:
		return fmt.Errorf("%w: %s", ErrStopped, i.spec.Name)
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", ErrNotReady, i.spec.Name, ctx.Err())
	case <-timeout:
		return fmt.Errorf("%w: %s did not pass its health check within %s; its last output:\n%s",
			ErrNotReady, i.spec.Name, i.sup.opts.ReadyTimeout, i.lastOutput(8))
	}
}

// startReplicas starts the function's processes (none for a classic one).
func (i *Instance) startReplicas() {
	if i.classic {
		return
	}
	i.mu.Lock()
	for k := range i.want {
		i.replicas = append(i.replicas, newReplica(i, k+1))
	}
	start := append([]*replica(nil), i.replicas...)
	i.mu.Unlock()
	for _, r := range start {
		go r.run()
	}
}

// Scale makes the function run n replicas (n >= 1): new ones are started,
// and the last ones are taken out of the rotation and stopped, the others
// going on undisturbed. It returns once the replicas it stops have
// stopped, or with ctx's error when ctx ends first (they still stop).
// Stop the function to scale it to zero.
func (i *Instance) Scale(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("supervisor: scale %s to %d replicas: at least 1 (stop the function instead)", i.spec.Name, n)
	}
	i.mu.Lock()
	if i.stopped {
		i.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrStopped, i.spec.Name)
	}
	was := i.want
	i.want = n
	var started, stopping []*replica
	if !i.classic {
		for len(i.replicas) < n {
			r := newReplica(i, len(i.replicas)+1)
			i.replicas = append(i.replicas, r)
			started = append(started, r)
		}
		if len(i.replicas) > n {
			stopping = append(stopping, i.replicas[n:]...)
			i.replicas = append([]*replica(nil), i.replicas[:n]...)
		}
		i.broadcastLocked()
	}
	i.mu.Unlock()
	if was != n {
		i.logs.add("supervisor", fmt.Sprintf("scaled from %d to %d replicas", was, n))
	}
	for _, r := range started {
		go r.run()
	}
	return waitStopped(ctx, stopping)
}

// waitStopped stops the replicas at once and waits until they have
// stopped or ctx ends (its error).
func waitStopped(ctx context.Context, rs []*replica) error {
	if len(rs) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop stops every replica and waits for them; closeLogs ends the log too
// (the function is removed, not replaced).
func (i *Instance) stop(closeLogs bool) {
	i.mu.Lock()
	if !i.stopped {
		i.stopped = true
		close(i.stopCh)
	}
	rs := i.replicas
	i.replicas = nil
	i.broadcastLocked()
	i.mu.Unlock()
	_ = waitStopped(context.Background(), rs)
	if closeLogs {
		i.logs.close()
	}
}

// env is the environment of a process of the function, listening on port
// (0: a classic function's process, which does not listen).
func (i *Instance) env(port int) []string {
	env := os.Environ()
	keys := make([]string, 0, len(i.spec.Env))
	for k := range i.spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, ok := i.spec.Env["healthcheck_interval"]; !ok {
		env = append(env, "healthcheck_interval=0s") // the gateway stops routing before SIGTERM
	}
	for _, k := range keys {
		env = append(env, k+"="+i.spec.Env[k])
	}
	env = append(env, "secret_mount_path="+i.mount+string(os.PathSeparator))
	if port > 0 {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		env = append(env, "listen_addr="+addr, "upstream_url=http://"+addr, "mode=http")
	}
	if i.spec.FProcess != "" {
		env = append(env, "fprocess="+i.spec.FProcess)
	}
	return env
}
