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
	chatRole + withUsage(chatContent("a b"), 5, 2) + withUsage(chatContent("c"), 5, 1) + chatFinish + done,
	withUsage(chatRole, 5, 1) + withUsage(chatContent("a"), 5, 1) + withUsage(chatContent("b"), 5, 2) + withUsage(chatFinish, 5, 3) + usage(3, 0) + done,
	`data:{"ChoiCes":[{"teXt":"0","finish_reAson":""}]}` + "\ndata:[DONE]",
	`data:{"choices":[{"text":"0","finish_reason":""}]}` + "\ndata:[DONE]",
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
// carries a non-negative token count, in time order, the first at
// FirstToken, and on success the chunks add up to the output tokens.
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
	// Keys may be escaped (\u0066inish_reason), so only a stream without
	// either is certainly without a finish_reason.
	if !bytes.Contains(data, []byte("finish_reason")) && !bytes.Contains(data, []byte(`\u`)) {
		t.Fatalf("a stream without a finish_reason succeeded: %q", data)
	}
	if rec.Done == 0 || rec.OutputTokens < 0 {
		t.Fatalf("successful stream with Done %v and %d output tokens", rec.Done, rec.OutputTokens)
	}
	sum := 0
	for i, c := range rec.Chunks {
		if c.Tokens < 0 || (i > 0 && c.At < rec.Chunks[i-1].At) {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		sum += c.Tokens
	}
	if sum != rec.OutputTokens {
		t.Fatalf("chunks carry %d tokens, the record %d output tokens: %q", sum, rec.OutputTokens, data)
	}
	if len(rec.Chunks) > 0 && rec.FirstToken != rec.Chunks[0].At {
		t.Fatalf("first token at %v, first chunk at %v", rec.FirstToken, rec.Chunks[0].At)
	}
}

func FuzzParseStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data, func(rec *metrics.Record) error {
			return ParseStream(&byEvent{string(data)}, tick(), rec)
		})
	})
}

func FuzzParseOpenAIStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStream(t, data, func(rec *metrics.Record) error {
			return ParseOpenAIStream(&byEvent{string(data)}, 16, tick(), rec)
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
