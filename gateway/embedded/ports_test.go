package embedded

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestEtcdPortsAreTwoDistinctFreeOnes: a fresh data directory gets a client
// and a peer port that differ, even though both are picked from the
// kernel's free ports one after the other.
func TestEtcdPortsAreTwoDistinctFreeOnes(t *testing.T) {
	for i := 0; i < 200; i++ {
		p, err := choosePorts(t.TempDir(), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.Client == 0 || p.Peer == 0 || p.Client == p.Peer {
			t.Fatalf("ports %+v: want two distinct non-zero ports", p)
		}
	}
}

// TestEtcdPortsFollowTheLastRunWhileFree: the remembered ports are reused
// while free; a remembered port another process holds is replaced, and a
// fresh choice ignores what was remembered.
func TestEtcdPortsFollowTheLastRunWhileFree(t *testing.T) {
	dir := t.TempDir()
	first, err := choosePorts(dir, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := choosePorts(dir, 0, false)
	if err != nil || again != first {
		t.Fatalf("second choice %+v, %v; want the remembered %+v", again, err, first)
	}
	l := listen(t, first.Client)
	moved, err := choosePorts(dir, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Client == first.Client || moved.Peer != first.Peer {
		t.Fatalf("with the client port taken: %+v, want a new client port and peer %d", moved, first.Peer)
	}
	l.Close()
	fresh, err := choosePorts(dir, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == moved {
		t.Fatalf("a fresh choice repeated the remembered ports %+v", fresh)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ports.json")); err != nil || len(b) == 0 {
		t.Fatalf("ports.json after choosing: %q, %v", b, err)
	}
}

// TestEtcdOnATakenClientPortFailsAsAddressInUse: an explicit client port
// that is taken is an error naming the cause (the retry on newly picked
// ports relies on recognising it), not a silent move to another port.
func TestEtcdOnATakenClientPortFailsAsAddressInUse(t *testing.T) {
	l := listen(t, 0)
	port := l.Addr().(*net.TCPAddr).Port
	e, err := StartEtcd(EtcdOptions{Dir: t.TempDir(), ClientPort: port})
	if err == nil {
		e.Close()
		t.Fatalf("etcd started on the taken port %d", port)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %v: want one that is syscall.EADDRINUSE", err)
	}
}

func listen(t *testing.T, port int) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
