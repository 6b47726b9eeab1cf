package load

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// countingStub is the stub behind a server that counts the connections
// it accepted.
func countingStub(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(Stub{})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func sendOne(t *testing.T, c *Client, target string) metrics.Record {
	t.Helper()
	p, err := c.prepare(Request{InputIDs: []int{1, 2, 3}, OutputTokens: 4}, "rid")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var rec metrics.Record
	c.do(context.Background(), target, &p, func() time.Duration { return time.Since(start) }, &rec)
	return rec
}

// TestConnectIsTimedApartAndZeroOnAReusedConnection sends requests one
// after another, over plain HTTP and TLS, through the client's own
// transport and through net/http: the first opens the connection and
// records how long that took, the others reuse it and record zero.
func TestConnectIsTimedApartAndZeroOnAReusedConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		client func(srv *httptest.Server) *http.Client
	}{
		{"own transport", false, func(*httptest.Server) *http.Client { return NewHTTPClient() }},
		{"own transport over TLS", true, func(srv *httptest.Server) *http.Client {
			tr := NewTransport()
			tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
			return &http.Client{Transport: tr}
		}},
		{"net/http", false, func(*httptest.Server) *http.Client { return &http.Client{Transport: &http.Transport{}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, conns := countingStub(t, tc.tls)
			c := &Client{HTTP: tc.client(srv), API: Chat}
			for i := range 3 {
				rec := sendOne(t, c, srv.URL)
				if !rec.OK() || rec.OutputTokens != 4 {
					t.Fatalf("request %d: %+v", i, rec)
				}
				if (i == 0) != (rec.Connect > 0) || rec.Connect > rec.FirstToken-rec.Sent {
					t.Errorf("request %d: connect %v (TTFT %v); want it timed on the first request only, within the TTFT", i, rec.Connect, rec.FirstToken-rec.Sent)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("the server accepted %d connections for 3 requests in a row, want 1", n)
			}
		})
	}
}

// TestAConnectionTheServerClosedIdleIsReplacedUnseen lets the server close
// an idle kept-alive connection; the next request is sent again on a new
// one, succeeds, and records the connect.
func TestAConnectionTheServerClosedIdleIsReplacedUnseen(t *testing.T) {
	srv := httptest.NewUnstartedServer(Stub{})
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c := &Client{HTTP: NewHTTPClient()}
	if rec := sendOne(t, c, srv.URL); !rec.OK() {
		t.Fatal(rec.Error)
	}
	time.Sleep(100 * time.Millisecond)
	rec := sendOne(t, c, srv.URL)
	if !rec.OK() || rec.Connect == 0 {
		t.Fatalf("after the server closed the idle connection: %+v; want success on a new connection", rec)
	}
}

// TestResponsesOfEveryFramingAreRead covers the response heads and bodies
// a server may send: chunked, a Content-Length, until close, interim 1xx
// responses, and errors.
func TestResponsesOfEveryFramingAreRead(t *testing.T) {
	stream := chunk("a", 1, "") + chunk("ab", 2, length3) + done
	tests := []struct {
		name     string
		response string
		ok       bool
		err      string
		reuse    bool
	}{
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(stream, 7) + "0\r\n\r\n", true, "", true},
		{"chunked with extensions and trailers", "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n" +
			strings.Replace(chunked(stream, 100), "\r\n", ";ext=1\r\n", 1) + "0\r\nX-Trailer: 1\r\n\r\n", true, "", true},
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(stream)) + "\r\n\r\n" + stream, true, "", true},
		{"until close", "HTTP/1.0 200 OK\r\n\r\n" + stream, true, "", false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " + itoa(len(stream)) + "\r\n\r\n" + stream, true, "", false},
		{"interim 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(stream)) + "\r\n\r\n" + stream, true, "", true},
		{"an error status keeps its body", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nqueue full\n", false, "HTTP 503: queue full", true},
		{"a body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 9999\r\n\r\n" + stream[:20], false, "stream ended before [DONE]", false},
		{"a chunk cut short", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + stream[:20], false, "stream ended before [DONE]", false},
		{"a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + stream, false, "bad chunk size", false},
		{"a malformed status line", "HTTP/2 200\r\n\r\n", false, "malformed response status line", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target, served := rawServer(t, tc.response)
			c := &Client{HTTP: NewHTTPClient()}
			rec := sendOne(t, c, target)
			if rec.OK() != tc.ok || !strings.Contains(rec.Error, tc.err) {
				t.Fatalf("ok %v, error %q; want %v and %q", rec.OK(), rec.Error, tc.ok, tc.err)
			}
			if tc.ok && (rec.OutputTokens != 2 || len(rec.Chunks) != 2 || rec.InputTokens != 4) {
				t.Errorf("record %+v", rec)
			}
			// A reusable connection carries the next request too.
			rec = sendOne(t, c, target)
			if got := served.Load(); (got == 1) != tc.reuse {
				t.Errorf("the server saw %d connections for two requests; reuse %v", got, tc.reuse)
			}
		})
	}
}

// chunked frames s in chunks of at most n bytes.
func chunked(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		b.WriteString(strings.ToUpper(itoaHex(k)) + "\r\n" + s[:k] + "\r\n")
		s = s[k:]
	}
	return b.String()
}

func itoaHex(n int) string { return strings.TrimLeft(strings.ToLower(hex(n)), "0") }

func hex(n int) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b[:])
}

// rawServer answers every request on every connection with response,
// closing the connection after it when the response is to be read until
// close. It counts connections.
func rawServer(t *testing.T, response string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	closeAfter := strings.HasPrefix(response, "HTTP/1.0") || strings.Contains(response, "Connection: close") || strings.Contains(response, "9999") ||
		strings.Contains(response, "\r\n40\r\n") || strings.Contains(response, "zz") || strings.HasPrefix(response, "HTTP/2")
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			wg.Go(func() {
				defer nc.Close()
				req := make([]byte, 64<<10)
				for {
					// Every request of the client fits one read here.
					if _, err := nc.Read(req); err != nil {
						return
					}
					if _, err := nc.Write([]byte(response)); err != nil || closeAfter {
						return
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String(), &conns
}

// TestCancellingARunAbortsItsStreams cancels the context while a stream
// is held open by the server: the request ends at once with the context's
// error.
func TestCancellingARunAbortsItsStreams(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chunk("a", 1, ""))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := &Client{HTTP: NewHTTPClient()}
	p, _ := c.prepare(Request{InputIDs: []int{1}, OutputTokens: 4}, "rid")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var rec metrics.Record
	c.do(ctx, srv.URL, &p, func() time.Duration { return time.Since(start) }, &rec)
	if rec.OK() || !strings.Contains(rec.Error, "context canceled") || len(rec.Chunks) != 1 {
		t.Fatalf("record %+v; want the first chunk, then a failure naming the cancellation", rec)
	}
}

// TestTargetsWithAPathPrefixAreHonoured sends to a base URL with a path.
func TestTargetsWithAPathPrefixAreHonoured(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/prefix")
		Stub{}.ServeHTTP(w, r)
	}))
	defer srv.Close()
	rec := sendOne(t, &Client{}, srv.URL+"/prefix/")
	if !rec.OK() || path.Load() != "/prefix/generate" {
		t.Fatalf("path %v, record %+v", path.Load(), rec)
	}
	for _, bad := range []string{"ftp://x", "http://u:p@host", "http://host/?q=1", "nohost"} {
		if rec := sendOne(t, &Client{}, bad); rec.OK() || !strings.Contains(rec.Error, "target") {
			t.Errorf("target %q: error %q; want it named as a bad target", bad, rec.Error)
		}
	}
}

// pieces returns a reader that hands out data in reads of the sizes
// cycling through sizes (each 1..16 bytes).
type pieces struct {
	data  []byte
	sizes []byte
	i     int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + int(p.sizes[p.i%len(p.sizes)]%16)
	p.i++
	n = copy(b[:min(n, len(b))], p.data)
	p.data = p.data[n:]
	return n, nil
}

// FuzzChunkedBodyMatchesNetHTTP holds the in-place chunked decoder to
// net/http's: whatever net/http decodes, it decodes to the same bytes,
// however the bytes arrive.
func FuzzChunkedBodyMatchesNetHTTP(f *testing.F) {
	f.Add([]byte(chunked("data: {}\n\ndata: [DONE]\n\n", 5)+"0\r\n\r\n"), []byte{3, 7})
	f.Add([]byte("3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"), []byte{0})
	f.Add([]byte("a\r\n0123456789\r\n0\r\n\r\n"), []byte{15, 1})
	f.Add([]byte("1\r\na\n0\r\n\r\n"), []byte{2})
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		if len(sizes) == 0 {
			sizes = []byte{15}
		}
		want, wantErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		br := newBodyReader()
		br.reset(&pieces{data: data, sizes: sizes}, func() time.Duration { return 0 }, bodyChunked)
		got, gotErr := io.ReadAll(br)
		if wantErr != nil {
			return
		}
		if !bytes.Equal(got, want) || (gotErr != nil && !errors.Is(gotErr, io.ErrUnexpectedEOF)) {
			t.Fatalf("%q: net/http decodes %q, the body reader %q (error %v)", data, want, got, gotErr)
		}
	})
}
