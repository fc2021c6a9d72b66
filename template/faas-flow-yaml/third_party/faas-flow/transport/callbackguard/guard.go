package callbackguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrRefused is wrapped by every error for a destination a Guard refuses.
var ErrRefused = errors.New("callback destination refused")

// RefusedError reports a refused destination: Host is the host the URL
// named, Addr the protected address it stands for.
type RefusedError struct {
	Host string
	Addr netip.AddrPort
}

// Error names the destination and why it is refused.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: %s is %s, an internal service of the stack (allow it explicitly if you own it)", ErrRefused, e.Host, e.Addr)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Options configure New.
type Options struct {
	// Protected are the addresses of the services callbacks may not reach:
	// URLs (http://127.0.0.1:2379, nats://127.0.0.1:4222) or host:port. A
	// URL without a port has its scheme's default port. An address on a
	// loopback or unspecified IP, or on localhost, protects its port on
	// every local address of the machine; one on another IP protects that
	// address only; one named by another host name is skipped, since it
	// cannot be told without a lookup.
	Protected []string
	// Allow names destinations that stay allowed on a protected address:
	// IPs, CIDRs (127.0.0.0/8) or host names, an IP or a host name
	// optionally with :port ([::1]:8080 for IPv6). A host name matches the
	// host a URL names, not what it resolves to.
	Allow []string
	// LookupNetIP looks host names up (nil: net.DefaultResolver's), with
	// network "ip", "ip4" or "ip6".
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard refuses callback destinations on the protected addresses. A nil
// *Guard refuses nothing.
type Guard struct {
	ports  map[uint16]bool         // protected on every local address
	exact  map[netip.AddrPort]bool // protected at that address only
	allow  []allowed
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// allowed is one entry of the allow-list: a host name or a network, and a
// port (0: any).
type allowed struct {
	host   string
	prefix netip.Prefix
	port   uint16
}

// New builds a Guard. It returns nil (refusing nothing) when Protected
// names no address it can protect, and an error naming the first entry of
// either list it cannot read.
func New(o Options) (*Guard, error) {
	g := &Guard{ports: map[uint16]bool{}, exact: map[netip.AddrPort]bool{}, lookup: o.LookupNetIP}
	if g.lookup == nil {
		g.lookup = net.DefaultResolver.LookupNetIP
	}
	for _, s := range o.Protected {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if err := g.protect(s); err != nil {
			return nil, err
		}
	}
	for _, s := range o.Allow {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := parseAllowed(s)
		if err != nil {
			return nil, err
		}
		g.allow = append(g.allow, a)
	}
	if len(g.ports) == 0 && len(g.exact) == 0 {
		return nil, nil
	}
	return g, nil
}

// protect adds the service address s (a URL or host:port).
func (g *Guard) protect(s string) error {
	var host, port string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return fmt.Errorf("protected address %q: want a URL or host:port", s)
		}
		host, port = u.Hostname(), u.Port()
		if port == "" {
			if port = defaultPorts[strings.ToLower(u.Scheme)]; port == "" {
				return fmt.Errorf("protected address %q: no port, and no default port for %s", s, u.Scheme)
			}
		}
	} else {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return fmt.Errorf("protected address %q: want a URL or host:port", s)
		}
	}
	p, err := parsePort(port)
	if err != nil {
		return fmt.Errorf("protected address %q: %w", s, err)
	}
	ips, ok := literal(host)
	if !ok {
		return nil
	}
	for _, ip := range ips {
		if ip = ip.Unmap().WithZone(""); ip.IsLoopback() || ip.IsUnspecified() {
			g.ports[p] = true
		} else {
			g.exact[netip.AddrPortFrom(ip, p)] = true
		}
	}
	return nil
}

// defaultPorts are the ports of URLs that name none, by scheme.
var defaultPorts = map[string]string{"http": "80", "https": "443", "nats": "4222", "tls": "4222", "ws": "80", "wss": "443"}

// parseAllowed reads one allow-list entry.
func parseAllowed(s string) (allowed, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return allowed{prefix: p.Masked()}, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap().WithZone("")
		return allowed{prefix: netip.PrefixFrom(ip, ip.BitLen())}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip := ap.Addr().Unmap().WithZone("")
		if ap.Port() == 0 {
			return allowed{}, fmt.Errorf("callback allow-list entry %q: port 0", s)
		}
		return allowed{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: ap.Port()}, nil
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	a := allowed{host: normalizeHost(host)}
	if !validHostName(a.host) {
		return allowed{}, fmt.Errorf("callback allow-list entry %q: want an IP, a CIDR or a host name, optionally with :port", s)
	}
	if port != "" {
		p, err := parsePort(port)
		if err != nil {
			return allowed{}, fmt.Errorf("callback allow-list entry %q: %w", s, err)
		}
		a.port = p
	}
	return a, nil
}

// parsePort reads a port from 1 to 65535.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q: want 1 to 65535", s)
	}
	return uint16(n), nil
}

// normalizeHost is a host name as compared: lower case, no trailing dot.
func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// validHostName reports whether h is made of DNS labels.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// literal returns the addresses host stands for without a lookup: the IP
// it is, or the loopback addresses for localhost. ok is false for any other
// host name.
func literal(host string) (ips []netip.Addr, ok bool) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, true
	}
	if h := normalizeHost(host); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, true
	}
	return nil, false
}

// refuse returns a *RefusedError when ip:port, reached through the URL host
// host, is protected and not allowed.
func (g *Guard) refuse(host string, ip netip.Addr, port uint16) error {
	ip = ip.Unmap().WithZone("")
	ap := netip.AddrPortFrom(ip, port)
	if !g.exact[ap] && !(g.ports[port] && isLocal(ip)) {
		return nil
	}
	name := normalizeHost(host)
	for _, a := range g.allow {
		if a.port != 0 && a.port != port {
			continue
		}
		if a.host != "" && a.host == name || a.host == "" && a.prefix.Contains(ip) {
			return nil
		}
	}
	return &RefusedError{Host: host, Addr: ap}
}

// isLocal reports whether connecting to ip reaches this machine: a
// loopback or unspecified address, or one of its interfaces' addresses.
func isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(addrs, func(a net.Addr) bool {
		n, ok := a.(*net.IPNet)
		if !ok {
			return false
		}
		own, ok := netip.AddrFromSlice(n.IP)
		return ok && own.Unmap() == ip
	})
}

// urlTarget is the host and port a callback URL reaches; ok is false for a
// URL that is not absolute http(s) (it is not sent anyway).
func urlTarget(u *url.URL) (host string, port uint16, ok bool) {
	if u == nil || u.Hostname() == "" {
		return "", 0, false
	}
	p := u.Port()
	if p == "" {
		scheme := strings.ToLower(u.Scheme)
		if scheme != "http" && scheme != "https" {
			return "", 0, false
		}
		p = defaultPorts[scheme]
	}
	n, err := parsePort(p)
	if err != nil {
		return "", 0, false
	}
	return u.Hostname(), n, true
}

// CheckURL refuses u when its host is an IP or localhost and that address
// is protected. It does no lookup: a host name it cannot tell about is
// allowed here (Check and Client look it up). Callers use it to refuse a
// callback URL when they accept it.
func (g *Guard) CheckURL(u *url.URL) error {
	if g == nil {
		return nil
	}
	host, port, ok := urlTarget(u)
	if !ok {
		return nil
	}
	ips, ok := literal(host)
	if !ok {
		return nil
	}
	for _, ip := range ips {
		if err := g.refuse(host, ip, port); err != nil {
			return err
		}
	}
	return nil
}

// Check refuses u when its host is, or resolves to, a protected address
// that is not allowed. A host name that cannot be looked up is not refused
// here: the call fails on its own, and Client checks each connection.
func (g *Guard) Check(ctx context.Context, u *url.URL) error {
	if g == nil {
		return nil
	}
	host, port, ok := urlTarget(u)
	if !ok {
		return nil
	}
	ips, ok := literal(host)
	if !ok {
		found, err := g.lookup(ctx, "ip", host)
		if err != nil {
			return nil
		}
		ips = found
	}
	for _, ip := range ips {
		if err := g.refuse(host, ip, port); err != nil {
			return err
		}
	}
	return nil
}
