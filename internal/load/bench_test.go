package load

import (
	"bytes"
	"context"
	"net/http/httptest"
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
