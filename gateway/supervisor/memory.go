package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Reasons the supervisor kills a process, passed to Options.OnKill.
const (
	// KillMemory: the process (with its children) went over the
	// function's memory limit.
	KillMemory = "memory"
	// KillTimeout: a call to the process ran past the function's exec
	// timeout (see Instance.StopRunaway).
	KillTimeout = "timeout"
)

// residentBytes is the resident memory (VmRSS) of process pid and of all
// its descendants, read from procRoot (normally /proc). It fails only when
// pid itself cannot be read, for example once it has exited.
func residentBytes(procRoot string, pid int) (int64, error) {
	total, err := vmRSS(procRoot, pid)
	if err != nil {
		return 0, err
	}
	seen := map[int]bool{pid: true}
	queue := children(procRoot, pid)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if n, err := vmRSS(procRoot, p); err == nil {
			total += n
		}
		queue = append(queue, children(procRoot, p)...)
	}
	return total, nil
}

// vmRSS reads the VmRSS line of /proc/<pid>/status, in bytes. A process
// with no such line (a zombie) has none.
func vmRSS(procRoot string, pid int) (int64, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) == 0 {
			return 0, fmt.Errorf("supervisor: pid %d: empty VmRSS", pid)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("supervisor: pid %d: VmRSS: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, sc.Err()
}

// children lists the child processes of pid, from the children file of
// each of its threads (a child belongs to the thread that forked it).
func children(procRoot string, pid int) []int {
	tasks, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "task"))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "task", t.Name(), "children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// overLimit is the line written to a function's log when the watchdog
// kills one of its processes.
func overLimit(rss, limit int64) string {
	return fmt.Sprintf("killed: resident memory %s MiB over its limit %s MiB", mib(rss), mib(limit))
}

// mib formats n bytes in MiB: whole when it is a whole number, else with
// one decimal.
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10)
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64)
}

// watchMemory samples the resident memory of the process group led by pid
// every interval until exited is closed; past limit it kills the group
// with SIGKILL, after calling killed with the line to log. It returns
// once it killed or the process exited.
func watchMemory(pid int, limit int64, interval time.Duration, exited <-chan struct{}, killed func(line string)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-exited:
			return
		case <-t.C:
		}
		rss, err := residentBytes("/proc", pid)
		if err != nil || rss <= limit {
			continue
		}
		select {
		case <-exited:
			return
		default:
		}
		killed(overLimit(rss, limit))
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return
	}
}
