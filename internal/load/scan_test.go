package load

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/api"
)

// referenceChunk is the encoding/json decoding scanNative must match.
type referenceChunk struct {
	MetaInfo *api.MetaInfo   `json:"meta_info"`
	Error    json.RawMessage `json:"error"`
}

func referenceScan(b []byte) (nativeFields, error) {
	var c referenceChunk
	if err := json.Unmarshal(b, &c); err != nil {
		return nativeFields{}, err
	}
	var f nativeFields
	if c.MetaInfo != nil {
		f.hasMeta = true
		f.completion, f.cached = c.MetaInfo.CompletionTokens, c.MetaInfo.CachedTokens
		if fr := c.MetaInfo.FinishReason; fr != nil {
			f.finish, f.finishType, f.finishMsg = true, fr.Type, fr.Message
		}
	}
	if c.Error != nil {
		f.errRaw = c.Error
	}
	return f, nil
}

var scanSeeds = []string{
	`{"text":"abc","output_ids":[1,2,3],"meta_info":{"id":"r","finish_reason":{"type":"length","length":3},"prompt_tokens":4,"completion_tokens":3,"cached_tokens":1,"e2e_latency":0.25}}`,
	`{"text":"a\"b\\u00e9\n","meta_info":{"id":"r","finish_reason":null,"completion_tokens":1}}`,
	`{"meta_info":{"finish_reason":{"type":"abort","message":"The request queue is full.","status_code":503,"err_type":null,"matched":[1,{"x":true}]}}}`,
	`{"error":{"message":"boom","code":400}}`,
	`{"error":null,"meta_info":null}`,
	`{"META_INFO":{"Completion_Tokens":2}}`,
	`{"meta_info":{"completion_tokens":1},"meta_info":{"cached_tokens":5}}`,
	`{"meta_info":{"finish_reason":{"type":"stop"},"finish_reason":null}}`,
	`{"meta_info":{"completion_tokens":1.5}}`,
	`{"meta_info":{"completion_tokens":"1"}}`,
	`{"meta_info":{"completion_tokens":99999999999999999999}}`,
	`{"meta_info":{"e2e_latency":1e999}}`,
	`{"meta_info":{"id":7}}`,
	`{"meta_info":[]}`,
	`[1,2]`, `null`, `"x"`, `{}`, ` { } `, `{"a":}`, `{"a":01}`, `{"a":"\x"}`, `{"a":tru}`, `{"a":1,}`, `{"a" 1}`, `{"\u006deta_info":{"completion_tokens":4}}`,
	`{"a":"` + "\x01" + `"}`, `{"a":-}`, `{"a":1e}`, `{"a":[1,]}`, `{} {}`, "{\"a\":\"\xff\"}",
}

// FuzzScanNativeMatchesEncodingJSON holds the hot-path scanner to
// encoding/json: the same payloads fail, and the rest give the same fields.
func FuzzScanNativeMatchesEncodingJSON(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := referenceScan(b)
		var got nativeFields
		gotErr := scanNative(b, &got)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: scanNative error %v, encoding/json error %v", b, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(nativeFields{})); diff != "" {
			t.Fatalf("%q: fields differ (-encoding/json +scanNative):\n%s", b, diff)
		}
	})
}

func BenchmarkScanNative(b *testing.B) {
	payload := []byte(`{"text":"The quick brown fox jumps over the lazy dog, again and again","output_ids":[1,2,3,4,5,6,7,8,9,10,11,12],"meta_info":{"id":"sgltest-123","finish_reason":null,"prompt_tokens":256,"completion_tokens":12,"cached_tokens":0}}`)
	b.Run("scanNative", func(b *testing.B) {
		b.ReportAllocs()
		var f nativeFields
		for b.Loop() {
			if err := scanNative(payload, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := referenceScan(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func referenceScanOpenAI(b []byte) (openAIFields, error) {
	var c openAIChunk
	if err := json.Unmarshal(b, &c); err != nil {
		return openAIFields{}, err
	}
	f := openAIFields{hasChoices: c.Choices != nil, errRaw: c.Error}
	for _, ch := range c.Choices {
		g := openAIChoiceFields{index: ch.Index}
		if ch.FinishReason != nil {
			g.finish, g.finishStr = true, *ch.FinishReason
		}
		if ch.content() > 0 {
			g.text = true // compared through content() only
		}
		f.choices = append(f.choices, g)
	}
	if c.Usage != nil {
		f.hasUsage, f.completion = true, c.Usage.CompletionTokens
		if d := c.Usage.PromptTokensDetails; d != nil {
			f.cached = d.CachedTokens
		}
	}
	return f, nil
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
	`{"choices":[{"text":"a"}],"choices":[],"choices":[{}]}`,
	`{"choices":[{"delta":{"content":"a"},"delta":{"role":"x"}}]}`,
	`{"choices":[{"delta":{"content":"a"},"delta":null,"delta":{}}]}`,
	`{"usage":{"completion_tokens":3},"usage":{"prompt_tokens":1},"usage":null}`,
	`{"choices":[{"index":"0"}]}`, `{"choices":{}}`, `{"choices":[1]}`, `{"choices":[{"text":5}]}`, `{"choices":[{"finish_reason":1}]}`,
	`{"Choices":[{"Text":"x","INDEX":0}]}`, `{}`, `null`, `[]`, `{"choices":null,"usage":null}`,
}

// FuzzScanOpenAIMatchesEncodingJSON holds the OpenAI chunk scanner to
// encoding/json, as FuzzScanNativeMatchesEncodingJSON does the native one.
func FuzzScanOpenAIMatchesEncodingJSON(f *testing.F) {
	for _, s := range append(scanOpenAISeeds, scanSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := referenceScanOpenAI(b)
		var got openAIFields
		gotErr := scanOpenAI(b, &got)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: scanOpenAI error %v, encoding/json error %v", b, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		// Compare text presence through content(), not the per-field flags.
		norm := func(f openAIFields) openAIFields {
			cs := make([]openAIChoiceFields, len(f.choices))
			for i, c := range f.choices {
				cs[i] = openAIChoiceFields{index: c.index, finish: c.finish, finishStr: c.finishStr, text: c.content()}
			}
			if len(cs) == 0 {
				cs = nil
			}
			f.choices = cs
			return f
		}
		if diff := cmp.Diff(norm(want), norm(got), cmp.AllowUnexported(openAIFields{}, openAIChoiceFields{})); diff != "" {
			t.Fatalf("%q: fields differ (-encoding/json +scanOpenAI):\n%s", b, diff)
		}
	})
}
