package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// errNoCgroup: the machine does not let the supervisor put a process in a
// cgroup v2 of its own with a memory limit; the watchdog enforces limits.
var errNoCgroup = errors.New("cgroup v2 memory limits unavailable")

// cgroups is a cgroup v2 directory, made by this supervisor, under which
// each process with a memory limit gets a cgroup of its own whose
// memory.max the kernel enforces.
type cgroups struct {
	dir string
	seq atomic.Int64
}

// detectCgroups makes the supervisor's cgroup under the one the gateway
// runs in, with the memory controller enabled for its children, and checks
// that a child takes a memory.max. procSelf is normally /proc/self. It
// fails with errNoCgroup, saying why, when any step is not allowed: no
// cgroup v2 hierarchy, no memory controller in it (cgroup v1 holds it),
// or no right to create cgroups or enable controllers there.
func detectCgroups(procSelf string) (*cgroups, error) {
	own, err := ownCgroup(procSelf)
	if err != nil {
		return nil, err
	}
	if !hasWord(filepath.Join(own, "cgroup.controllers"), "memory") {
		return nil, fmt.Errorf("%w: the memory controller is not enabled in %s", errNoCgroup, own)
	}
	if err := enableMemory(own); err != nil {
		return nil, err
	}
	dir := filepath.Join(own, "faasflow-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	cg := &cgroups{dir: dir}
	if err := enableMemory(dir); err != nil {
		cg.close()
		return nil, err
	}
	probe, err := cg.child("probe", 64<<20)
	if err != nil {
		cg.close()
		return nil, err
	}
	_ = os.Remove(probe)
	return cg, nil
}

// ownCgroup is the directory of the cgroup v2 the process runs in, from
// procSelf/cgroup (the "0::" line) and procSelf/mountinfo (where cgroup2 is
// mounted).
func ownCgroup(procSelf string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procSelf, "cgroup"))
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	var path string
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path, found = p, true
		}
	}
	if !found {
		return "", fmt.Errorf("%w: the process is in no cgroup v2", errNoCgroup)
	}
	f, err := os.Open(filepath.Join(procSelf, "mountinfo"))
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source ...
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		rel, ok := strings.CutPrefix(path, fields[3])
		if !ok {
			continue
		}
		return filepath.Join(fields[4], rel), nil
	}
	return "", fmt.Errorf("%w: cgroup2 is not mounted", errNoCgroup)
}

// hasWord reports whether the file holds word among its space-separated
// words.
func hasWord(path, word string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, w := range strings.Fields(string(b)) {
		if w == word {
			return true
		}
	}
	return false
}

// enableMemory enables the memory controller for the children of dir.
func enableMemory(dir string) error {
	ctl := filepath.Join(dir, "cgroup.subtree_control")
	if hasWord(ctl, "memory") {
		return nil
	}
	if err := writeFile(ctl, "+memory"); err != nil {
		return fmt.Errorf("%w: enable the memory controller in %s: %w", errNoCgroup, dir, err)
	}
	return nil
}

// writeFile writes v to an existing file (cgroup files are never created).
func writeFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	return errors.Join(err, f.Close())
}

// child makes a cgroup named name under the supervisor's, limited to limit
// bytes of memory and no swap, whose processes are killed together when
// the limit is reached. It returns its directory.
func (c *cgroups) child(name string, limit int64) (string, error) {
	dir := filepath.Join(c.dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	if err := writeFile(filepath.Join(dir, "memory.max"), strconv.FormatInt(limit, 10)); err != nil {
		_ = os.Remove(dir)
		return "", fmt.Errorf("%w: memory.max: %w", errNoCgroup, err)
	}
	_ = writeFile(filepath.Join(dir, "memory.swap.max"), "0")
	_ = writeFile(filepath.Join(dir, "memory.oom.group"), "1")
	return dir, nil
}

// processCgroup is the cgroup of one process: started into it through fd
// (see syscall.SysProcAttr.CgroupFD), and read after it exits.
type processCgroup struct {
	dir   string
	fd    int
	limit int64
}

// forProcess makes a cgroup for the next process of replica of fn and
// opens it.
func (c *cgroups) forProcess(fn string, replica int, limit int64) (*processCgroup, error) {
	name := fmt.Sprintf("%s-%d-%d", fn, replica, c.seq.Add(1))
	dir, err := c.child(name, limit)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("%w: %w", errNoCgroup, err)
	}
	return &processCgroup{dir: dir, fd: fd, limit: limit}, nil
}

// started closes the descriptor the process was started with.
func (p *processCgroup) started() {
	if p != nil && p.fd >= 0 {
		_ = syscall.Close(p.fd)
		p.fd = -1
	}
}

// finish is called once the process exited: it returns the line to log
// when the kernel killed it for reaching its memory limit ("" otherwise),
// kills what is left in the cgroup and removes it.
func (p *processCgroup) finish() string {
	if p == nil {
		return ""
	}
	p.started()
	line := ""
	if oomKills(filepath.Join(p.dir, "memory.events")) > 0 {
		line = fmt.Sprintf("killed: memory reached its limit %s MiB (cgroup v2 out-of-memory kill)", mib(p.limit))
	}
	_ = writeFile(filepath.Join(p.dir, "cgroup.kill"), "1")
	for range 20 {
		if err := os.Remove(p.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return line
}

// oomKills is the oom_kill count of a memory.events file (0 when unread).
func oomKills(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// close removes the supervisor's cgroup (it must be empty by then).
func (c *cgroups) close() {
	if c != nil {
		_ = os.Remove(c.dir)
	}
}
