package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faas-flow/faas-flow/gateway/api"
)

// Errors callers branch on.
var (
	// ErrSecretNotFound: a listed secret is missing from the secrets dir.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrNotReady: the function did not become healthy in time.
	ErrNotReady = errors.New("function not ready")
	// ErrStopped: the function was removed or the supervisor closed.
	ErrStopped = errors.New("function stopped")
	// ErrCrashing: the function's processes exit before they ever pass
	// their health check (see CrashLimit); the error carries their last
	// lines of output.
	ErrCrashing = errors.New("function exits at start")
)

// CrashLimit is how many times a replica may exit before it first passes
// its health check before the function counts as crashing at start.
const CrashLimit = 2

// Options configure a Supervisor. Zero values mean the documented defaults.
type Options struct {
	// StateDir holds logs/<fn>.log, secrets/<fn>/ (each function's secret
	// mount) and functions/<fn>/ (working directory). Required.
	StateDir string
	// SecretsDir is where secret values are read from (one file per secret).
	SecretsDir string
	// ReadyTimeout bounds how long a request waits for a starting function
	// (default 30s).
	ReadyTimeout time.Duration
	// DefaultTimeout is the exec timeout when a function sets none of
	// exec_timeout / write_timeout (default 60s).
	DefaultTimeout time.Duration
	// StopTimeout is the grace between SIGTERM and SIGKILL (default 5s).
	StopTimeout time.Duration
	// BackoffMin/BackoffMax bound the restart backoff (defaults 100ms, 10s).
	BackoffMin, BackoffMax time.Duration
	// HealthInterval is how often a running process is health-checked (default 2s).
	HealthInterval time.Duration
	// LogLines is the ring buffer size per function (default 1000).
	LogLines int
	// Logger receives supervisor events (default: discard).
	Logger *slog.Logger
	// OnRestart is called after a crashed process is restarted.
	OnRestart func(name string)
	// OnKill is called when the supervisor kills a process of function
	// name, with the reason (KillMemory or KillTimeout).
	OnKill func(name, reason string)
	// MemoryInterval is how often the watchdog samples the resident
	// memory of a process whose function has a memory limit, where no
	// cgroup enforces it (default 250ms).
	MemoryInterval time.Duration
	// KillGrace is the grace between SIGTERM and SIGKILL for a process
	// stopped because a call to it ran past its exec timeout (default 1s).
	KillGrace time.Duration
	// NoCgroup makes the watchdog enforce memory limits even where cgroup
	// v2 could.
	NoCgroup bool
}

// Spec is what to run for one function.
type Spec struct {
	Name string
	// Binary is an HTTP server honouring env listen_addr. When empty the
	// function runs classic-watchdog style with FProcess.
	Binary   string
	FProcess string
	// Env is added to the process environment (after the gateway's own).
	Env map[string]string
	// Secrets are copied from SecretsDir into the function's secret mount.
	Secrets []string
	// Replicas is how many processes run the function (0 means 1). They
	// share the function's working directory, secret mount and log.
	Replicas int
	// MemoryLimit is the most memory, in bytes, a process of the function
	// (with its children) may use; past it the process is killed and, for
	// an HTTP function, restarted. 0: no limit.
	MemoryLimit int64
}

// Supervisor owns the function processes. It is safe for concurrent use.
type Supervisor struct {
	opts Options
	// cg puts processes with a memory limit in cgroups of their own; nil
	// when the watchdog enforces limits (see MemoryEnforcement).
	cg     *cgroups
	noCg   error // why cg is nil
	mu     sync.Mutex
	fns    map[string]*Instance
	closed bool
}

// New returns a Supervisor.
func New(opts Options) (*Supervisor, error) {
	if opts.StateDir == "" {
		return nil, errors.New("supervisor: StateDir is required")
	}
	if opts.SecretsDir == "" {
		opts.SecretsDir = filepath.Join(opts.StateDir, "secret-store")
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 60 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 2 * time.Second
	}
	if opts.LogLines <= 0 {
		opts.LogLines = 1000
	}
	if opts.MemoryInterval <= 0 {
		opts.MemoryInterval = 250 * time.Millisecond
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, d := range []string{"logs", "secrets", "functions"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("supervisor: %w", err)
		}
	}
	s := &Supervisor{opts: opts, fns: map[string]*Instance{}}
	s.noCg = errors.New("turned off (NoCgroup)")
	if !opts.NoCgroup {
		s.cg, s.noCg = detectCgroups("/proc/self")
	}
	opts.Logger.Info("function memory limits: " + s.MemoryEnforcement())
	return s, nil
}

// MemoryEnforcement says how functions' memory limits are enforced: by
// cgroup v2 (the kernel), or by the supervisor's watchdog, which samples
// resident memory, and why cgroup v2 is not used.
func (s *Supervisor) MemoryEnforcement() string {
	if s.cg != nil {
		return "cgroup v2 memory.max, under " + s.cg.dir
	}
	return fmt.Sprintf("watchdog sampling resident memory every %s (cgroup v2: %v)", s.opts.MemoryInterval, s.noCg)
}

func (s *Supervisor) newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// Room for a small request body next to the headers: a body that
		// does not fit is written through a new 32 KiB copy buffer.
		WriteBufferSize: 32 << 10,
	}
}

// CheckSecrets reports the first listed secret missing from the secrets dir.
func (s *Supervisor) CheckSecrets(names []string) error {
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			return fmt.Errorf("%w: invalid secret name %q", ErrSecretNotFound, n)
		}
		if _, err := os.Stat(filepath.Join(s.opts.SecretsDir, n)); err != nil {
			return fmt.Errorf("%w: unable to find secret: %s (put it in %s or create it with POST /system/secrets)", ErrSecretNotFound, n, s.opts.SecretsDir)
		}
	}
	return nil
}

// SecretsDir is where secret values are read from.
func (s *Supervisor) SecretsDir() string { return s.opts.SecretsDir }

// Start runs spec's replicas, replacing a running instance of the same
// name. It returns once the processes are launched; requests wait for one
// to become healthy.
func (s *Supervisor) Start(ctx context.Context, spec Spec) error {
	if err := s.CheckSecrets(spec.Secrets); err != nil {
		return err
	}
	if spec.Binary == "" && strings.TrimSpace(spec.FProcess) == "" {
		return fmt.Errorf("supervisor: function %s has neither a binary nor an fprocess", spec.Name)
	}
	mount := filepath.Join(s.opts.StateDir, "secrets", spec.Name)
	if err := s.mountSecrets(mount, spec.Secrets); err != nil {
		return err
	}
	workDir := filepath.Join(s.opts.StateDir, "functions", spec.Name)
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrStopped
	}
	old := s.fns[spec.Name]
	var logs *ring
	if old != nil {
		logs = old.logs
	} else {
		logs = newRing(s.opts.LogLines, filepath.Join(s.opts.StateDir, "logs", spec.Name+".log"))
	}
	inst := newInstance(s, spec, logs, mount, workDir)
	s.fns[spec.Name] = inst
	s.mu.Unlock()
	if old != nil {
		old.stop(false)
	}
	if inst.classic {
		logs.add("supervisor", "classic mode: fprocess "+spec.FProcess+" runs once per request")
		return nil
	}
	inst.startReplicas()
	return nil
}

// Scale makes the running function name run n replicas (n >= 1); see
// Instance.Scale.
func (s *Supervisor) Scale(ctx context.Context, name string, n int) error {
	inst, ok := s.Get(name)
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	return inst.Scale(ctx, n)
}

// Stop stops and forgets the function.
func (s *Supervisor) Stop(name string) error {
	s.mu.Lock()
	inst, ok := s.fns[name]
	delete(s.fns, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	inst.stop(true)
	return nil
}

// Get returns the running instance of name.
func (s *Supervisor) Get(name string) (*Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.fns[name]
	return i, ok
}

// Names lists the supervised functions.
func (s *Supervisor) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.fns))
}

// Logs returns the last n lines (n <= 0: all kept) of name's output, also
// after the function was stopped in this run.
func (s *Supervisor) Logs(name string, n int) ([]LogLine, error) {
	s.mu.Lock()
	inst, ok := s.fns[name]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	return inst.logs.tail(n), nil
}

// FollowLogs calls emit with the last n lines (n <= 0: all kept) of name's
// output, then with every new line as it is written, until ctx is done
// (it returns ctx's error), emit fails (its error), or the function is
// removed (nil). A redeployed function keeps its log, so following goes on
// across updates and restarts. Lines are delivered in order; if a follower
// falls more than the kept number of lines behind, the lines it missed are
// skipped.
func (s *Supervisor) FollowLogs(ctx context.Context, name string, n int, emit func([]LogLine) error) error {
	s.mu.Lock()
	inst, ok := s.fns[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", api.ErrFunctionNotFound, name)
	}
	lines, next, changed := inst.logs.snapshot(n)
	for {
		if len(lines) > 0 {
			if err := emit(lines); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		var closed bool
		lines, next, changed, closed = inst.logs.since(next)
		if closed {
			if len(lines) > 0 {
				return emit(lines)
			}
			return nil
		}
	}
}

// Close stops every function.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*Instance, 0, len(s.fns))
	for _, i := range s.fns {
		all = append(all, i)
	}
	s.fns = map[string]*Instance{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, i := range all {
		wg.Add(1)
		go func() { defer wg.Done(); i.stop(true) }()
	}
	wg.Wait()
	s.cg.close()
	return nil
}

func (s *Supervisor) mountSecrets(mount string, names []string) error {
	if err := os.RemoveAll(mount); err != nil {
		return fmt.Errorf("supervisor: secrets: %w", err)
	}
	if err := os.MkdirAll(mount, 0o700); err != nil {
		return fmt.Errorf("supervisor: secrets: %w", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(s.opts.SecretsDir, n))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrSecretNotFound, n, err)
		}
		if err := os.WriteFile(filepath.Join(mount, n), b, 0o600); err != nil {
			return fmt.Errorf("supervisor: secrets: %w", err)
		}
	}
	return nil
}

// execTimeout is exec_timeout, else write_timeout, else def.
func execTimeout(env map[string]string, def time.Duration) time.Duration {
	for _, k := range []string{"exec_timeout", "write_timeout"} {
		if d, ok := ParseDuration(env[k]); ok && d > 0 {
			return d
		}
	}
	return def
}

// ParseDuration parses whole seconds ("10") or a Go duration ("10s").
func ParseDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
