package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The reference decoders: encoding/json with the scanners' rules (exact
// keys, the last of repeated keys wins, null is absent, a field of the
// wrong type fails), written as plainly as possible for the differential
// fuzz tests.

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// refObject decodes an object into its members; null gives ok false.
func refObject(raw json.RawMessage) (m map[string]json.RawMessage, ok bool, err error) {
	if isNull(raw) {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

func refInt(m map[string]json.RawMessage, key string) (n int, present bool, err error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	err = json.Unmarshal(raw, &n)
	return n, err == nil, err
}

func refString(m map[string]json.RawMessage, key string) (s string, present bool, err error) {
	raw, ok := m[key]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	err = json.Unmarshal(raw, &s)
	return s, err == nil, err
}

func refMember(m map[string]json.RawMessage, key string) (map[string]json.RawMessage, bool, error) {
	raw, ok := m[key]
	if !ok {
		return nil, false, nil
	}
	return refObject(raw)
}

func referenceScan(b []byte) (f nativeFields, err error) {
	top, _, err := refObject(b)
	if err != nil {
		return f, err
	}
	if raw, ok := top["error"]; ok {
		f.errRaw = raw
	}
	meta, ok, err := refMember(top, "meta_info")
	if err != nil || !ok {
		return f, err
	}
	f.hasMeta = true
	var errs [4]error
	f.completion, _, errs[0] = refInt(meta, "completion_tokens")
	f.cached, _, errs[1] = refInt(meta, "cached_tokens")
	f.prompt, f.hasPrompt, errs[2] = refInt(meta, "prompt_tokens")
	fr, ok, err := refMember(meta, "finish_reason")
	errs[3] = err
	if ok {
		f.finish = true
		var e1, e2 error
		f.finishType, _, e1 = refString(fr, "type")
		f.finishMsg, _, e2 = refString(fr, "message")
		errs[3] = errors.Join(e1, e2)
	}
	return f, errors.Join(errs[:]...)
}

func referenceScanOpenAI(b []byte) (f openAIFields, err error) {
	top, _, err := refObject(b)
	if err != nil {
		return f, err
	}
	if raw, ok := top["error"]; ok {
		f.errRaw = raw
	}
	var errs []error
	if raw, ok := top["choices"]; ok && !isNull(raw) {
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return f, err
		}
		f.hasChoices = true
		for _, e := range elems {
			var c openAIChoiceFields
			m, _, err := refObject(e)
			errs = append(errs, err)
			var e1, e2 error
			c.index, _, e1 = refInt(m, "index")
			c.finishStr, c.finish, e2 = refString(m, "finish_reason")
			var texts []string
			s, _, e3 := refString(m, "text")
			texts = append(texts, s)
			errs = append(errs, e1, e2, e3)
			for _, part := range []struct {
				key    string
				fields []string
			}{{"delta", []string{"content", "reasoning_content", "reasoning"}}, {"message", []string{"content", "reasoning_content"}}} {
				d, _, err := refMember(m, part.key)
				errs = append(errs, err)
				for _, k := range part.fields {
					s, _, err := refString(d, k)
					texts = append(texts, s)
					errs = append(errs, err)
				}
			}
			for _, t := range texts {
				c.text = c.text || t != ""
			}
			f.choices = append(f.choices, c)
		}
	}
	usage, ok, err := refMember(top, "usage")
	errs = append(errs, err)
	if ok {
		f.hasUsage = true
		var e1, e2 error
		f.completion, _, e1 = refInt(usage, "completion_tokens")
		f.prompt, f.hasPrompt, e2 = refInt(usage, "prompt_tokens")
		d, _, e3 := refMember(usage, "prompt_tokens_details")
		var e4 error
		f.cached, _, e4 = refInt(d, "cached_tokens")
		errs = append(errs, e1, e2, e3, e4)
	}
	return f, errors.Join(errs...)
}

var scanSeeds = []string{
	`{"text":"abc","output_ids":[1,2,3],"meta_info":{"id":"r","finish_reason":{"type":"length","length":3},"prompt_tokens":4,"completion_tokens":3,"cached_tokens":1,"e2e_latency":0.25}}`,
	`{"text":"a\"b\\u00e9\n","meta_info":{"id":"r","finish_reason":null,"completion_tokens":1}}`,
	`{"text":"a long text without escapes, long enough for eight-byte steps","meta_info":{"completion_tokens":1}}`,
	`{"text":"tab	inside","meta_info":{}}`,
	`{"meta_info":{"finish_reason":{"type":"abort","message":"The request queue is full.","status_code":503,"err_type":null,"matched":[1,{"x":true}]}}}`,
	`{"error":{"message":"boom","code":400}}`,
	`{"error":null,"meta_info":null}`,
	`{"META_INFO":{"Completion_Tokens":2}}`,
	`{"meta_info":{"completion_tokens":1},"meta_info":{"cached_tokens":5}}`,
	`{"meta_info":{"finish_reason":{"type":"stop"},"finish_reason":null}}`,
	`{"meta_info":{"completion_tokens":1.5}}`,
	`{"meta_info":{"completion_tokens":"1"}}`,
	`{"meta_info":{"completion_tokens":99999999999999999999}}`,
	`{"meta_info":{"completion_tokens":-0,"prompt_tokens":null}}`,
	`{"meta_info":{"e2e_latency":1e999}}`,
	`{"meta_info":{"id":7}}`,
	`{"meta_info":[]}`,
	`[1,2]`, `null`, `"x"`, `{}`, ` { } `, `{"a":}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1,}`, `{"a" 1}`, `{"\u006deta_info":{"completion_tokens":4}}`,
	`{"a":"` + "\x01" + `"}`, `{"a":-}`, `{"a":1e}`, `{"a":[1,]}`, `{} {}`, "{\"a\":\"\xff\"}",
}

// FuzzScanNativeMatchesReference holds the /generate chunk scanner to the
// reference decoder: the same payloads fail, and the rest give the same
// fields.
func FuzzScanNativeMatchesReference(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := referenceScan(b)
		var got nativeFields
		gotErr := scanNative(b, &got)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: scanNative error %v, reference error %v", b, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(nativeFields{})); diff != "" {
			t.Fatalf("%q: fields differ (-reference +scanNative):\n%s", b, diff)
		}
	})
}

var scanOpenAISeeds = []string{
	`{"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null,"role":"assistant","content":""},"logprobs":null,"finish_reason":null,"matched_stop":null}]}`,
	`{"id":"r","choices":[{"index":0,"delta":{"reasoning_content":null,"content":"Hel"},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
	`{"id":"r","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,"reasoning_tokens":0,"prompt_tokens_details":{"cached_tokens":2}}}`,
	`{"id":"r","object":"text_completion","choices":[{"index":0,"text":"a\u00e9","logprobs":null,"finish_reason":"length","matched_stop":null}]}`,
	`{"choices":[{"index":0,"delta":{"reasoning":"hmm"},"finish_reason":"ab\u006frt"}]}`,
	`{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"completion_tokens":4,"prompt_tokens_details":null}}`,
	`{"error":{"object":"error","message":"boom","type":"BadRequest","param":null,"code":400}}`,
	`{"choices":[{"text":"a"}],"choices":[{}]}`,
	`{"choices":[{"text":"a"},null],"choices":[null,null,{"index":1}]}`,
	`{"choices":[{"delta":{"content":"a"},"delta":{"role":"x"}}]}`,
	`{"choices":[{"delta":{"content":"a","content":""}}]}`,
	`{"usage":{"completion_tokens":3},"usage":{"prompt_tokens":1},"usage":null}`,
	`{"choices":[{"index":"0"}]}`, `{"choices":{}}`, `{"choices":[1]}`, `{"choices":[{"text":5}]}`, `{"choices":[{"finish_reason":1}]}`,
	`{"ChoiCes":[{"teXt":"0","finish_reAson":""}]}`, `{"choices":[{"text":"0","finish_reason":""}]}`,
	`{}`, `null`, `[]`, `{"choices":null,"usage":null}`,
}

// FuzzScanOpenAIMatchesReference holds the OpenAI chunk scanner to the
// reference decoder, as FuzzScanNativeMatchesReference does the native one.
func FuzzScanOpenAIMatchesReference(f *testing.F) {
	for _, s := range append(scanOpenAISeeds, scanSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := referenceScanOpenAI(b)
		var got openAIFields
		gotErr := scanOpenAI(b, &got)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: scanOpenAI error %v, reference error %v", b, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		// Compare text presence through content(), not the per-key flags.
		norm := func(f openAIFields) openAIFields {
			var cs []openAIChoiceFields
			for _, c := range f.choices {
				cs = append(cs, openAIChoiceFields{index: c.index, finish: c.finish, finishStr: c.finishStr, text: c.content()})
			}
			f.choices = cs
			return f
		}
		if diff := cmp.Diff(norm(want), norm(got), cmp.AllowUnexported(openAIFields{}, openAIChoiceFields{})); diff != "" {
			t.Fatalf("%q: fields differ (-reference +scanOpenAI):\n%s", b, diff)
		}
	})
}

func TestSpecialMaskFindsTheFirstQuoteBackslashOrControlByte(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0x1f, 0x20, '"', '\\', 'a', 0x7f, 0x80, 0xff, '!', '#', '[', ']'}
	for range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = alphabet[rng.IntN(len(alphabet))]
		}
		first := 8
		for i, c := range w {
			if special(c) {
				first = i
				break
			}
		}
		got := 8
		if m := specialMask(leUint64(w)); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != first {
			t.Fatalf("%q: first special byte at %d, the mask says %d", w, first, got)
		}
	}
}

func leUint64(b [8]byte) uint64 {
	var w uint64
	for i := 7; i >= 0; i-- {
		w = w<<8 | uint64(b[i])
	}
	return w
}

func BenchmarkScanNative(b *testing.B) {
	payload := []byte(`{"text":" the of and to in a is that for it as was with be by on not he this are or his from at which but have an had they you were","output_ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32],"meta_info":{"id":"sgltest-123","finish_reason":null,"prompt_tokens":256,"completion_tokens":32,"cached_tokens":0}}`)
	b.Run("scanNative", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		var f nativeFields
		for b.Loop() {
			if err := scanNative(payload, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := referenceScan(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkScanOpenAI(b *testing.B) {
	payload := []byte(`{"id":"sgltest-123","object":"chat.completion.chunk","created":1796190712,"model":"default","choices":[{"index":0,"delta":{"reasoning_content":null,"content":" for"},"logprobs":null,"finish_reason":null,"matched_stop":null}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"reasoning_tokens":0,"prompt_tokens_details":null}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	var f openAIFields
	for b.Loop() {
		if err := scanOpenAI(payload, &f); err != nil {
			b.Fatal(err)
		}
	}
}
