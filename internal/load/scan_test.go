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
