package load

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/metrics"
)

// streamSeeds are the corpus shared by both fuzz targets: valid streams of
// each API, and the traps and breakages of sglang-reference.md s8.
var streamSeeds = []string{
	chunk("a", 1, "") + chunk("ab", 2, "") + chunk("abc", 3, length3) + done,
	chunk("a", 1, "") + chunk("abc", 3, length3) + done,
	chunk("a", 1, `{"type":"abort","message":"The request queue is full.","status_code":503}`) + done,
	chunk("a", 1, "") + `data: {"error":{"message":"boom","code":400}}` + "\n\n" + done,
	chunk("ab", 2, "") + chunk("a", 1, "") + done,
	chatRole + chatContent("Hel") + chatContent("lo") + chatFinish + usage(3, 2) + done,
	chatRole + chatContentUsage("a b", 2) + chatContentUsage("c", 1) + chatFinish + done,
	completion("a", "") + completion("b", "length") + done,
	completion("a", "") + completion("", "abort") + done,
	`data: {"error":"Unauthorized"}` + "\n\n",
	"data: [DONE]\n\n",
	"data: {}\n\ndata: [DONE]\n\n",
	"data: {\"meta_info\":null}\n\n" + done,
	"data: {\"choices\":null,\"usage\":null}\n\n" + done,
	"data: {\"choices\":[{\"index\":0,\"delta\":null,\"finish_reason\":\"stop\"}]}\n\n" + done,
	": comment\r\nevent: x\r\ndata:" + `{"meta_info":{"completion_tokens":1,"finish_reason":{"type":"stop"}}}` + "\r\n\r\ndata:[DONE]\r\n",
	"data: " + strings.Repeat("[", 10000),
	"data: {\"meta_info\":{\"completion_tokens\":-5}}\n\n",
	"data: {\"meta_info\":{\"completion_tokens\":1e309}}\n\n",
	"\x00\xff\xfe data: \n",
	"",
}

// checkStream runs parse on a fuzzed stream and asserts the invariants:
// no panic; success only for a stream that ends at [DONE] after a finish
// reason; a failure always has a reason and a Done time; every chunk
// carries a non-negative token count, in time order.
func checkStream(t *testing.T, data []byte, parse func(*metrics.Record) error) {
	var rec metrics.Record
	err := parse(&rec)
	if err != nil {
		if err.Error() == "" {
			t.Fatal("failed stream with an empty reason")
		}
		if rec.Done == 0 {
			t.Fatalf("failed stream (%v) left Done unset", err)
		}
		return
	}
	if !bytes.Contains(data, []byte("[DONE]")) {
		t.Fatalf("a stream without [DONE] succeeded: %q", data)
	}
	if !bytes.Contains(data, []byte("finish_reason")) {
		t.Fatalf("a stream without a finish_reason succeeded: %q", data)
	}
	if rec.Done == 0 || rec.OutputTokens < 0 {
		t.Fatalf("successful stream with Done %v and %d output tokens", rec.Done, rec.OutputTokens)
	}
	for i, c := range rec.Chunks {
		if c.Tokens < 0 || (i > 0 && c.At < rec.Chunks[i-1].At) {
			t.Fatalf("chunk %d: %+v", i, c)
		}
	}
}

func FuzzParseStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data, func(rec *metrics.Record) error {
			return ParseStream(bytes.NewReader(data), tick(), rec)
		})
	})
}

func FuzzParseOpenAIStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data, func(rec *metrics.Record) error {
			return ParseOpenAIStream(bytes.NewReader(data), 16, tick(), rec)
		})
	})
}

func TestMalformedStreamsFailWithAReason(t *testing.T) {
	// The broken members of the fuzz corpus, by name: each must fail in
	// both parsers, whatever the API.
	broken := map[string]string{
		"cut before DONE":        chunk("a", 1, "") + chatContent("a"),
		"only DONE":              done,
		"empty object":           "data: {}\n\n" + done,
		"null meta_info":         "data: {\"meta_info\":null}\n\n" + done,
		"null choices and usage": "data: {\"choices\":null,\"usage\":null}\n\n" + done,
		"unterminated JSON":      "data: " + strings.Repeat("[", 10000),
		"binary garbage":         "\x00\xff\xfe data: \n",
		"empty body":             "",
		"bare error string":      `data: {"error":"Unauthorized"}` + "\n\n" + done,
		"number out of range":    "data: {\"meta_info\":{\"completion_tokens\":1e309}}\n\n" + done,
	}
	for name, s := range broken {
		for api, parse := range map[string]func(*metrics.Record) error{
			"native": func(r *metrics.Record) error { return ParseStream(strings.NewReader(s), tick(), r) },
			"openai": func(r *metrics.Record) error { return ParseOpenAIStream(strings.NewReader(s), 4, tick(), r) },
		} {
			var rec metrics.Record
			if err := parse(&rec); err == nil || rec.Done == 0 {
				t.Errorf("%s, %s parser: err %v, Done %v; want a failure with a reason", name, api, err, rec.Done)
			}
		}
	}
}
