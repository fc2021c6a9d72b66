package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes each path (relative to dir) with its content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, v := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOwnCgroupFindsTheCgroupV2DirectoryOrSaysWhyNot(t *testing.T) {
	const v2Mount = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
	const hybrid = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
		"41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
	tests := []struct {
		name      string
		cgroup    string
		mountinfo string
		want      string
		wantErr   string
	}{
		{"unified hierarchy", "0::/user.slice/gw.scope\n", v2Mount, "/sys/fs/cgroup/user.slice/gw.scope", ""},
		{"hybrid hierarchy", "4:memory:/x\n0::/\n", hybrid, "/sys/fs/cgroup/unified", ""},
		{"container without a cgroup namespace", "0::/kubepods/pod1\n", "30 23 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup", ""},
		{"cgroup v1 only", "4:memory:/x\n1:cpu:/\n", hybrid, "", "in no cgroup v2"},
		{"cgroup2 not mounted", "0::/a\n", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n", "", "not mounted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"cgroup": tt.cgroup, "mountinfo": tt.mountinfo})
			got, err := ownCgroup(dir)
			if tt.wantErr != "" {
				if !errors.Is(err, errNoCgroup) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ownCgroup = %q, %v; want errNoCgroup saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ownCgroup = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDetectCgroupsRefusesAHierarchyWithoutTheMemoryController(t *testing.T) {
	proc, root := t.TempDir(), t.TempDir()
	writeFiles(t, proc, map[string]string{
		"cgroup":    "0::/\n",
		"mountinfo": "41 31 0:38 / " + root + " rw - cgroup2 cgroup2 rw\n",
	})
	writeFiles(t, root, map[string]string{"cgroup.controllers": "cpu io pids hugetlb\n"})
	cg, err := detectCgroups(proc)
	if cg != nil || !errors.Is(err, errNoCgroup) || !strings.Contains(err.Error(), "memory controller") {
		t.Fatalf("detectCgroups = %v, %v; want errNoCgroup about the memory controller", cg, err)
	}
}

func TestResidentBytesAddsTheDescendantsOfTheProcess(t *testing.T) {
	proc := t.TempDir()
	writeFiles(t, proc, map[string]string{
		"10/status":                "Name:\tparent\nVmRSS:\t  1024 kB\n",
		"10/task/10/children":      "11 ",
		"10/task/12/children":      "13\n",
		"11/status":                "Name:\tchild\nVmRSS:\t  2048 kB\n",
		"11/task/11/children":      "14",
		"13/status":                "Name:\tzombie\n", // no VmRSS: counts nothing
		"14/status":                "Name:\tgrandchild\nVmRSS:\t4096 kB\n",
		"20/status":                "Name:\tunrelated\nVmRSS:\t9999 kB\n",
		"10/task/10/unrelated-dir": "",
	})
	got, err := residentBytes(proc, 10)
	if want := int64(1024+2048+4096) << 10; err != nil || got != want {
		t.Fatalf("residentBytes = %d, %v; want %d", got, err, want)
	}
	if _, err := residentBytes(proc, 99); err == nil {
		t.Fatal("residentBytes of a process that is gone did not fail")
	}
}

func TestOOMKillsReadsMemoryEvents(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          int64
	}{
		{"killed twice", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 1\n", 2},
		{"never killed", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", 0},
		{"no file", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if tt.content != "" {
				writeFiles(t, dir, map[string]string{filepath.Base(p): tt.content})
			}
			if got := oomKills(p); got != tt.want {
				t.Fatalf("oomKills = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOverLimitLineSaysMiB(t *testing.T) {
	if got, want := overLimit(71<<20+300<<10, 64<<20), "killed: resident memory 71.3 MiB over its limit 64 MiB"; got != want {
		t.Fatalf("overLimit = %q, want %q", got, want)
	}
}
