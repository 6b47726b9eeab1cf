package load

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// streamOf builds a stream of n one-token events of api a, as Stub sends it.
func streamOf(a API, n int) []byte {
	srv := httptest.NewServer(Stub{})
	defer srv.Close()
	c := &Client{HTTP: NewHTTPClient(), API: a}
	p, _ := c.prepare(Request{InputIDs: []int{1, 2, 3}, OutputTokens: n}, "bench")
	resp, err := c.HTTP.Post(srv.URL+a.path(), "application/json", bytes.NewReader(p.body))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.Bytes()
}

// BenchmarkParse measures the parsers per 100-token stream; divide ns/op by
// 100 for the cost per token.
func BenchmarkParse(b *testing.B) {
	now := func() time.Duration { return 1 }
	for _, a := range []API{Native, Completions, Chat} {
		stream := streamOf(a, 100)
		b.Run(a.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			chunks := make([]metrics.Chunk, 0, 100)
			for b.Loop() {
				rec := metrics.Record{Chunks: chunks[:0]}
				var err error
				if a == Native {
					err = ParseStream(bytes.NewReader(stream), now, &rec)
				} else {
					err = ParseOpenAIStream(bytes.NewReader(stream), 100, now, &rec)
				}
				if err != nil || rec.OutputTokens != 100 {
					b.Fatal(err, rec.OutputTokens)
				}
			}
		})
	}
}

// BenchmarkRequest measures one whole streamed request of 10 tokens
// against the in-process stub on loopback (client and stub together).
func BenchmarkRequest(b *testing.B) {
	srv := httptest.NewServer(Stub{})
	defer srv.Close()
	c := &Client{HTTP: NewHTTPClient()}
	p, _ := c.prepare(Request{InputIDs: []int{1, 2, 3}, OutputTokens: 10}, "bench")
	start := time.Now()
	now := func() time.Duration { return time.Since(start) }
	b.ReportAllocs()
	for b.Loop() {
		var rec metrics.Record
		c.do(context.Background(), srv.URL, &p, now, &rec)
		if !rec.OK() || rec.OutputTokens != 10 {
			b.Fatal(rec.Error)
		}
	}
}

// replayServer answers every request on a connection with a recorded
// stub stream of api a and n tokens, one write per event as a server that
// flushes each sees it, allocating nothing per request: what the client
// costs is all a benchmark of it measures besides the writes.
func replayServer(b *testing.B, a API, n int) string {
	b.Helper()
	body := string(streamOf(a, n))
	events := strings.SplitAfter(body, "\n\n")
	var writes [][]byte
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
	for i, e := range events {
		if e == "" {
			continue
		}
		w := fmt.Sprintf("%x\r\n%s\r\n", len(e), e)
		if i == 0 {
			w = head + w
		}
		if strings.HasPrefix(e, "data: [DONE]") {
			w += "0\r\n\r\n"
		}
		writes = append(writes, []byte(w))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				buf := make([]byte, 64<<10)
				have := 0
				for {
					// Read one whole request: the head, then Content-Length bytes.
					for {
						if i := bytes.Index(buf[:have], []byte("\r\n\r\n")); i >= 0 {
							cl := bytes.Index(buf[:i], []byte("Content-Length: "))
							end := bytes.IndexByte(buf[cl:i+2], '\r')
							size, _ := strconv.Atoi(string(buf[cl+16 : cl+end]))
							if have >= i+4+size {
								have = copy(buf, buf[i+4+size:have])
								break
							}
						}
						m, err := nc.Read(buf[have:])
						if err != nil {
							return
						}
						have += m
					}
					for _, w := range writes {
						if _, err := nc.Write(w); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkClient measures one streamed request of 50 tokens, one event
// each, against replayServer: allocs/op are the client's alone.
func BenchmarkClient(b *testing.B) {
	for _, a := range []API{Native, Chat} {
		b.Run(a.String(), func(b *testing.B) {
			target := replayServer(b, a, 50)
			c := &Client{HTTP: NewHTTPClient(), API: a}
			p, _ := c.prepare(Request{InputIDs: make([]int, 16), OutputTokens: 50}, "bench")
			start := time.Now()
			now := func() time.Duration { return time.Since(start) }
			rec := metrics.Record{Chunks: make([]metrics.Chunk, 0, 64)}
			b.ReportAllocs()
			for b.Loop() {
				rec = metrics.Record{Chunks: rec.Chunks[:0]}
				c.do(context.Background(), target, &p, now, &rec)
				if !rec.OK() || rec.OutputTokens != 50 {
					b.Fatal(rec.Error)
				}
			}
		})
	}
}
