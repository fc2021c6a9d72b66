package callbackguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// DialFunc dials a network address, as net.Dialer.DialContext does.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// DialContext wraps dial: it looks the host up once, refuses the
// connection (with a *RefusedError) when any address found is protected
// and not allowed, and otherwise dials the addresses found in turn, so the
// name is not resolved a second time to something else.
func (g *Guard) DialContext(dial DialFunc) DialFunc {
	if g == nil {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("dial %s: port %q: %w", addr, portStr, err)
		}
		ips, err := g.resolve(ctx, network, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if err := g.refuse(host, ip, uint16(port)); err != nil {
				return nil, err
			}
		}
		var first error
		for _, ip := range ips {
			c, err := dial(ctx, network, net.JoinHostPort(ip.String(), portStr))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

// resolve returns the addresses of host for network (tcp, tcp4, tcp6…).
func (g *Guard) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	kind := "ip"
	switch network {
	case "tcp4", "udp4":
		kind = "ip4"
	case "tcp6", "udp6":
		kind = "ip6"
	}
	ips, err := g.lookup(ctx, kind, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// Client returns a copy of c (nil: a client with no timeout) that checks
// every request it sends, redirects included, with Check, and every
// connection it opens with DialContext. c's transport is cloned when it is
// an *http.Transport (nil: http.DefaultTransport); another RoundTripper,
// and a transport's own DialTLSContext, are only checked request by
// request. A refused request fails with an error wrapping ErrRefused and is
// never sent.
func (g *Guard) Client(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if g == nil {
		return c
	}
	cc := *c
	rt := cc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok {
		t = t.Clone()
		dial := t.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		t.DialContext = g.DialContext(dial)
		rt = t
	}
	cc.Transport = &checkedTransport{g: g, next: rt}
	return &cc
}

// checkedTransport refuses a request whose URL Check refuses.
type checkedTransport struct {
	g    *Guard
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *checkedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.g.Check(r.Context(), r.URL); err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport, so http.Client.CloseIdleConnections keeps working.
func (t *checkedTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
