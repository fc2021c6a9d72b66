package callbackguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// stackGuard protects what a local stack runs: etcd's client and peer
// ports, NATS and a MinIO on another host, plus an etcd named by a host
// name, which cannot be told without a lookup.
func stackGuard(t *testing.T, allow ...string) *Guard {
	t.Helper()
	g, err := New(Options{
		Protected: []string{"http://127.0.0.1:2379", "127.0.0.1:2380", "nats://127.0.0.1:4222", "http://10.1.2.3:9000", "etcd.example:2399"},
		Allow:     allow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCheckURLRefusesLocalAddressesOnProtectedPorts(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		url     string
		refused bool
	}{
		{"etcd's put endpoint", nil, "http://127.0.0.1:2379/v3/kv/put", true},
		{"etcd by localhost", nil, "http://localhost:2379/v3/kv/put", true},
		{"etcd's peer port", nil, "http://127.0.0.1:2380/", true},
		{"another loopback address", nil, "http://127.0.0.2:2379/", true},
		{"the unspecified address", nil, "http://0.0.0.0:2379/", true},
		{"IPv6 loopback on the NATS port", nil, "http://[::1]:4222/", true},
		{"IPv4 in IPv6", nil, "http://[::ffff:127.0.0.1]:2379/", true},
		{"https on a protected port", nil, "https://127.0.0.1:4222/", true},
		{"a service on another host, exactly", nil, "http://10.1.2.3:9000/bucket", true},
		{"the same port on another host", nil, "http://10.1.2.4:9000/", false},
		{"an ordinary local port", nil, "http://127.0.0.1:8080/cb", false},
		{"the default port", nil, "http://127.0.0.1/cb", false},
		{"a host name needs a lookup", nil, "http://etcd.example:2399/", false},
		{"allowed by address and port", []string{"127.0.0.1:2379"}, "http://127.0.0.1:2379/", false},
		{"allowed address, other port", []string{"127.0.0.1:2379"}, "http://127.0.0.1:4222/", true},
		{"allowed by network", []string{"127.0.0.0/8"}, "http://127.0.0.5:2379/", false},
		{"an IPv4 network does not allow IPv6", []string{"127.0.0.0/8"}, "http://[::1]:2379/", true},
		{"allowed by host name", []string{"LocalHost."}, "http://localhost:2379/", false},
		{"a host name allows only itself", []string{"localhost"}, "http://127.0.0.1:2379/", true},
		{"allowed IPv6 address and port", []string{"[::1]:4222"}, "http://[::1]:4222/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := stackGuard(t, tt.allow...).CheckURL(mustURL(t, tt.url))
			if got := errors.Is(err, ErrRefused); got != tt.refused {
				t.Fatalf("CheckURL(%s) = %v, want refused %v", tt.url, err, tt.refused)
			}
			var re *RefusedError
			if tt.refused && (!errors.As(err, &re) || !strings.Contains(err.Error(), "internal service")) {
				t.Fatalf("error %v is not a *RefusedError naming the service", err)
			}
		})
	}
}

func TestNewRefusesEntriesItCannotRead(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // "" for no error
	}{
		{"protected without a port", Options{Protected: []string{"127.0.0.1"}}, "want a URL or host:port"},
		{"protected URL of an unknown scheme", Options{Protected: []string{"foo://127.0.0.1"}}, "no default port"},
		{"protected port out of range", Options{Protected: []string{"127.0.0.1:70000"}}, "want 1 to 65535"},
		{"allow-list junk", Options{Protected: []string{"127.0.0.1:1"}, Allow: []string{"not a host"}}, "want an IP, a CIDR or a host name"},
		{"allow-list port 0", Options{Protected: []string{"127.0.0.1:1"}, Allow: []string{"127.0.0.1:0"}}, "port 0"},
		{"blank entries are skipped", Options{Protected: []string{" ", "127.0.0.1:1"}, Allow: []string{""}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestAGuardWithNothingToProtectRefusesNothing(t *testing.T) {
	g, err := New(Options{Protected: []string{"etcd.example:2379"}, Allow: []string{"10.0.0.0/8"}})
	if err != nil || g != nil {
		t.Fatalf("New = %v, %v; want nil, nil", g, err)
	}
	if err := g.Check(context.Background(), mustURL(t, "http://127.0.0.1:2379/")); err != nil {
		t.Fatalf("a nil Guard refused: %v", err)
	}
	if c := g.Client(nil); c == nil {
		t.Fatal("a nil Guard returned no client")
	}
}

// fakeLookup answers every name with the next of answers (the last one
// repeated), counting the lookups.
type fakeLookup struct {
	answers []string
	n       atomic.Int32
}

func (f *fakeLookup) lookup(context.Context, string, string) ([]netip.Addr, error) {
	i := min(int(f.n.Add(1))-1, len(f.answers)-1)
	return []netip.Addr{netip.MustParseAddr(f.answers[i])}, nil
}

func TestCheckRefusesAHostNameThatResolvesToAProtectedAddress(t *testing.T) {
	f := &fakeLookup{answers: []string{"127.0.0.1"}}
	g, err := New(Options{Protected: []string{"127.0.0.1:2379"}, Allow: []string{"mine.example"}, LookupNetIP: f.lookup})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(context.Background(), mustURL(t, "http://sneaky.example:2379/v3/kv/put")); !errors.Is(err, ErrRefused) {
		t.Fatalf("Check = %v, want refused", err)
	}
	if err := g.Check(context.Background(), mustURL(t, "http://mine.example:2379/")); err != nil {
		t.Fatalf("Check of an allowed name = %v", err)
	}
}

// server is a test HTTP server counting the requests it got.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) port() string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

func TestClientSendsOrdinaryCallbacksAndRefusesRedirectsToProtectedAddresses(t *testing.T) {
	internal := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	ordinary := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, internal.URL+"/v3/kv/put", http.StatusTemporaryRedirect)
		}
	})
	g, err := New(Options{Protected: []string{"http://127.0.0.1:" + internal.port()}})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Client(nil)
	tests := []struct {
		name    string
		url     string
		refused bool
	}{
		{"an ordinary address is sent", ordinary.URL + "/cb", false},
		{"a protected address is not sent", internal.URL + "/v3/kv/put", true},
		{"a redirect to a protected address is not followed", ordinary.URL + "/redirect", true},
		{"localhost on the protected port is not sent", "http://localhost:" + internal.port() + "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Post(tt.url, "text/plain", strings.NewReader("body"))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if got := errors.Is(err, ErrRefused); got != tt.refused {
				t.Fatalf("POST %s = %v, want refused %v", tt.url, err, tt.refused)
			}
		})
	}
	if n := internal.hits.Load(); n != 0 {
		t.Fatalf("the protected server got %d requests", n)
	}
}

func TestClientChecksTheAddressItConnectsTo(t *testing.T) {
	internal := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	// The first lookup (the request's check) finds a harmless address,
	// the second (the connection's) the protected one.
	f := &fakeLookup{answers: []string{"192.0.2.1", "127.0.0.1"}}
	g, err := New(Options{Protected: []string{"127.0.0.1:" + internal.port()}, LookupNetIP: f.lookup})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Client(nil).Post("http://rebinding.example:"+internal.port()+"/", "text/plain", strings.NewReader("x"))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("POST = %v, want refused at connect time", err)
	}
	if f.n.Load() != 2 || internal.hits.Load() != 0 {
		t.Fatalf("%d lookups, %d requests reached the protected server; want 2 and 0", f.n.Load(), internal.hits.Load())
	}
}
