package steps

import (
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/runner"
)

// What QA tried to write and found undefined, and the other forms the
// vocabulary promises: each must match exactly one sentence.
func TestSentencesQAWritesMatchExactlyOnePattern(t *testing.T) {
	for _, text := range []string{
		"4 GPUs",
		"4 GPUs with shortest_queue at 40 req/s",
		`the routing policy is "shortest_queue"`,
		"P99 total latency < 2s",
		"the error rate is below 1%",
		"the max queue depth is below 10",
		"the P95 ITL on server 2 is below 20 ms",
		"the P99.9 TTFT is below 1 s",
		"the median TTFT is below 20ms",
		"a simulated SGLang server with max running requests 64 on an A100",
		"an SGLang server with max running requests 64 and tensor parallel size 2",
		"2 SGLang servers with chunked prefill size 4096, schedule policy lpm, mem fraction 0.8",
		"a simulated SGLang server with data parallel size 4 and load balance method total_requests",
		"a simulated SGLang server with max running requests 64, data parallel size 4 and load balance method total_tokens",
		"the request throughput in every 1 s window is at least 10 req/s",
		"the P99 TTFT in every 5 s window is <= 500 ms",
		"at most 5% of requests fail",
		"server 2 is killed after 10 s and restored after 20 s",
		"server 1 restarts with max running requests 32 after 30 s",
		"the router is paused after 2 s for 1 s",
		"requests stop failing within 2 s after server 2 is killed",
		"the P99 TTFT is below 500 ms again within 10 s after server 2 is restored",
		"the prompts are 100 random prompts with 1 to 8192 input and 128 output tokens",
		"the servers serve Llama-3.1-70B on an H100",
		"the cache hit rate on server 1 is at least 20%",
		"the mean GPU utilization is at least 80%",
		"the peak GPU memory is below 70 GiB",
		"the energy per output token is below 0.5 J",
	} {
		if n := match(text); n != 1 {
			t.Errorf("%q matches %d sentences, want exactly 1", text, n)
		}
	}
}

func TestServerSettingsReadEverySettingAndNameABadOne(t *testing.T) {
	got, err := serverSettings("max running requests 64 and tensor parallel size 2, chunked prefill size -1, schedule policy lpm and mem fraction 0.85")
	if err != nil {
		t.Fatal(err)
	}
	want := runner.Server{MaxRunningRequests: 64, TPSize: 2, ChunkedPrefillSize: -1, SchedulePolicy: "lpm", MemFractionStatic: 0.85}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	got, err = serverSettings("data parallel size 4 and load balance method total_tokens")
	if err != nil || got.DPSize != 4 || got.LoadBalanceMethod != "total_tokens" {
		t.Errorf("data parallel settings read as %+v, %v", got, err)
	}
	for _, bad := range []string{"max running requests 0", "mem fraction 1.5", "max batch size 8", "chunked prefill size 0", "data parallel size 0"} {
		if _, err := serverSettings(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBoundSentencesReadEveryPart(t *testing.T) {
	text := "the P95 ITL on server 2 in every 5 s window is below 20ms"
	ix := matching(text)
	if len(ix) != 1 {
		t.Fatalf("%d matches", len(ix))
	}
	b, err := bound(compiled[ix[0]].FindStringSubmatch(text)[1:])
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "P95 ITL on server 2 in every 5s window" || b.Value != 20 || b.Server != 2 || b.Cmp != "below" {
		t.Errorf("bound %q value %v server %d cmp %q", b.Name(), b.Value, b.Server, b.Cmp)
	}
	short := "P99 total latency < 2s"
	b, err = bound(compiled[matching(short)[0]].FindStringSubmatch(short)[1:])
	if err != nil || b.Value != 2000 || b.Cmp != "below" {
		t.Errorf("short form: %+v, %v; want 2000 ms, below", b, err)
	}
}

func TestSuggestionsNameTheClosestSentences(t *testing.T) {
	for _, tc := range []struct{ typo, want string }{
		{"the P99 total latncy is below 10 s", "Then the P99 total latency is below 10 s"},
		{"the request thruput is at least 1 req/s", "Then the request throughput is at least 15 req/s"},
		{"a simulated SGLang sever with max running requests 64", "Given a simulated SGLang server with max running requests 64"},
		{"200 random prompts with 256 input and 64 output tokens arrive at 20 request per second", "When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second"},
	} {
		got := suggest(tc.typo, 3)
		if !slices.Contains(got, tc.want) {
			t.Errorf("suggest(%q) = %v, want it to include %q", tc.typo, got, tc.want)
		}
	}
}

func TestEveryExtraExampleMatchesItsOwnSentence(t *testing.T) {
	for i, s := range sentences {
		for _, ex := range s.also {
			text := regexp.MustCompile(`^(Given|When|Then|And) `).ReplaceAllString(ex, "")
			if ix := matching(text); len(ix) != 1 || ix[0] != i {
				t.Errorf("extra example %q matches %v, want only sentence %d", ex, ix, i)
			}
		}
	}
}
