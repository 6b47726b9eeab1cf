package load

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Transport is the load generator's HTTP/1.1 client. The requests a Client
// measures go through its own connections: one write per request (head and
// body together), the response read into one buffer per connection with
// chunk framing removed in place, no goroutine but the request's own, no
// allocation per event, and the body always read to its end so that the
// connection is reused. net/http's transport, by contrast, runs two
// goroutines per connection and hands every response over between them,
// and closes a connection whose body was not read to its end, which a
// stream parser that stops at [DONE] usually does: at a few thousand
// requests per second the client was mostly dialling.
//
// Any other request sent through an http.Client that uses a Transport (its
// RoundTrip) goes to the embedded http.Transport.
type Transport struct {
	*http.Transport
	// IdleTimeout is how long a connection may sit idle and still be
	// reused; older ones are closed. Servers close idle keep-alive
	// connections themselves (uvicorn, in front of SGLang, after 5 s), and
	// a request written into one that is closing would fail. Zero means
	// 4 s.
	IdleTimeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept per target; zero
	// means 4096.
	MaxIdlePerHost int

	mu     sync.Mutex
	hosts  map[string]*host
	dialer net.Dialer
}

// NewTransport returns a Transport with the defaults NewHTTPClient uses.
func NewTransport() *Transport {
	return &Transport{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// RoundTrip sends any request that is not one of the Client's own through
// the embedded http.Transport (http.DefaultTransport when it is nil).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Transport == nil {
		return http.DefaultTransport.RoundTrip(req)
	}
	return t.Transport.RoundTrip(req)
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 4 * time.Second
}

func (t *Transport) maxIdle() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return 4096
}

// CloseIdleConnections closes the idle connections of both pools.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var idle []*conn
	for _, h := range t.hosts {
		idle = append(idle, h.idle...)
		h.idle = nil
	}
	t.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
	if t.Transport != nil {
		t.Transport.CloseIdleConnections()
	}
}

// host is one target base URL and its idle connections.
type host struct {
	addr       string // host:port to dial
	header     string // the Host header
	prefix     string // the target's path, prepended to the API path
	serverName string // for TLS; empty for plain HTTP
	idle       []*conn
}

// conn is one connection with its buffers.
type conn struct {
	nc     net.Conn
	rd     *bodyReader
	wbuf   []byte
	idleAt time.Time
	uses   int // requests it has carried
}

// host returns target's host, parsing it once.
func (t *Transport) host(target string) (*host, error) {
	t.mu.Lock()
	h := t.hosts[target]
	t.mu.Unlock()
	if h != nil {
		return h, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("target %q: %v", target, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("target %q: want http://host[:port][/path] or https://...", target)
	}
	h = &host{header: u.Host, prefix: strings.TrimRight(u.EscapedPath(), "/")}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	h.addr = net.JoinHostPort(u.Hostname(), port)
	if u.Scheme == "https" {
		h.serverName = u.Hostname()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts == nil {
		t.hosts = map[string]*host{}
	}
	if old := t.hosts[target]; old != nil {
		return old, nil
	}
	t.hosts[target] = h
	return h, nil
}

// get returns the most recently used idle connection to h, unless fresh
// is set or none is idle; then it dials one and returns how long that
// took (TCP connect and TLS handshake), read on now.
func (t *Transport) get(ctx context.Context, h *host, now func() time.Duration, fresh bool) (c *conn, connect time.Duration, err error) {
	if !fresh {
		var stale []*conn
		t.mu.Lock()
		if n := len(h.idle); n > 0 {
			c = h.idle[n-1]
			h.idle[n-1] = nil
			h.idle = h.idle[:n-1]
			if time.Since(c.idleAt) > t.idleTimeout() {
				// Every connection below it is older still.
				stale = append(h.idle, c)
				h.idle, c = nil, nil
			}
		}
		t.mu.Unlock()
		for _, s := range stale {
			_ = s.nc.Close()
		}
		if c != nil {
			return c, 0, nil
		}
	}
	start := now()
	nc, err := t.dialer.DialContext(ctx, "tcp", h.addr)
	if err == nil && h.serverName != "" {
		cfg := &tls.Config{}
		if t.Transport != nil && t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = h.serverName
		}
		tc := tls.Client(nc, cfg)
		if err = tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
		}
		nc = tc
	}
	connect = now() - start
	if err != nil {
		return nil, connect, err
	}
	return &conn{nc: nc, rd: newBodyReader()}, connect, nil
}

// put makes c idle, most recently used last, and closes the oldest idle
// connections that are past the idle timeout or over the cap.
func (t *Transport) put(h *host, c *conn) {
	c.idleAt = time.Now()
	var drop []*conn
	t.mu.Lock()
	h.idle = append(h.idle, c)
	k := 0
	for k < len(h.idle) && (len(h.idle)-k > t.maxIdle() || c.idleAt.Sub(h.idle[k].idleAt) > t.idleTimeout()) {
		k++
	}
	if k > 0 {
		drop = append(drop, h.idle[:k]...)
		n := copy(h.idle, h.idle[k:])
		clear(h.idle[n:])
		h.idle = h.idle[:n]
	}
	t.mu.Unlock()
	for _, d := range drop {
		_ = d.nc.Close()
	}
}

// longAgo is a deadline in the past: setting it wakes a blocked read or
// write at once.
var longAgo = time.Unix(1, 0)
