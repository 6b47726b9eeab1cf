package workerstate

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/simtest"
	"github.com/sgltest/sgltest/internal/simulator"
)

// dpExposition is what a two-rank DP server exports, in SGLang's layout:
// scheduler families once per rank with dp_rank last, front-end families
// once for the server.
const dpExposition = `# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{` + sched + `,dp_rank="0"} 3.0
sglang:num_running_reqs{` + sched + `,dp_rank="1"} 4.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{` + sched + `,dp_rank="0"} 1.0
sglang:num_queue_reqs{` + sched + `,dp_rank="1"} 2.0
# TYPE sglang:num_used_tokens gauge
sglang:num_used_tokens{` + sched + `,dp_rank="0"} 100.0
sglang:num_used_tokens{` + sched + `,dp_rank="1"} 50.0
# TYPE sglang:token_usage gauge
sglang:token_usage{` + sched + `,dp_rank="0"} 0.25
sglang:token_usage{` + sched + `,dp_rank="1"} 0.5
# TYPE sglang:gen_throughput gauge
sglang:gen_throughput{` + sched + `,dp_rank="0"} 100.0
sglang:gen_throughput{` + sched + `,dp_rank="1"} 200.0
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{` + sched + `,dp_rank="0"} 0.3
sglang:cache_hit_rate{` + sched + `,dp_rank="1"} 0.1
# TYPE sglang:realtime_tokens_total counter
sglang:realtime_tokens_total{` + sched + `,dp_rank="0",mode="prefill_compute"} 900.0
sglang:realtime_tokens_total{` + sched + `,dp_rank="0",mode="prefill_cache"} 100.0
sglang:realtime_tokens_total{` + sched + `,dp_rank="0",mode="decode"} 70.0
sglang:realtime_tokens_total{` + sched + `,dp_rank="1",mode="prefill_compute"} 500.0
sglang:realtime_tokens_total{` + sched + `,dp_rank="1",mode="prefill_cache"} 0.0
sglang:realtime_tokens_total{` + sched + `,dp_rank="1",mode="decode"} 30.0
# TYPE sglang:queue_time_seconds histogram
sglang:queue_time_seconds_bucket{` + sched + `,dp_rank="0",le="+Inf"} 6.0
sglang:queue_time_seconds_count{` + sched + `,dp_rank="0"} 6.0
sglang:queue_time_seconds_sum{` + sched + `,dp_rank="0"} 0.5
sglang:queue_time_seconds_bucket{` + sched + `,dp_rank="1",le="+Inf"} 4.0
sglang:queue_time_seconds_count{` + sched + `,dp_rank="1"} 4.0
sglang:queue_time_seconds_sum{` + sched + `,dp_rank="1"} 0.25
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{` + front + `,is_streaming="true"} 10.0
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{` + front + `,is_streaming="true"} 1500.0
`

func TestParseSumsDPRanksCountsAndTakesTheLargestRatio(t *testing.T) {
	got, err := Parse(strings.NewReader(dpExposition))
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{
		Running: 7, Queued: 3, UsedTokens: 150, Throughput: 300, // sums over ranks
		TokenUsage: 0.5, CacheHitRate: 0.3, // the largest rank's
		Counters: Counters{Requests: 10, PromptTokens: 1500, Ranks: []RankCounters{
			{Rank: 0, Admitted: 6, PrefillTokens: 1000, DecodeTokens: 70},
			{Rank: 1, Admitted: 4, PrefillTokens: 500, DecodeTokens: 30},
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Parse (-want +got):\n%s", d)
	}
	later := got.Counters
	later.Requests, later.Ranks = 16, []RankCounters{{Rank: 0, Admitted: 9}, {Rank: 1, Admitted: 7}}
	if d := later.Sub(got.Counters).Ranks; d[0].Admitted != 3 || d[1].Admitted != 3 {
		t.Errorf("per-rank difference = %+v, want 3 admissions on each rank", d)
	}
}

func TestParseReadsALiveDPSimulatorRankByRank(t *testing.T) {
	ts := simtest.InProcess(t, simulator.Config{DPSize: 3})
	// Six requests one after another: round robin gives each rank two.
	for i := range 6 {
		resp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(
			fmt.Sprintf(`{"input_ids":[%d,2,3,4,5,6,7,8],"sampling_params":{"max_new_tokens":4,"ignore_eos":true}}`, i+10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
	s := scrapeSample(t, ts.URL)
	if s.Requests != 6 || s.PromptTokens != 48 || s.GenerationTokens != 24 {
		t.Errorf("server counters %+v, want 6 requests, 48 prompt and 24 generated tokens", s.Counters)
	}
	if len(s.Ranks) != 3 {
		t.Fatalf("ranks %+v, want 3", s.Ranks)
	}
	for _, r := range s.Ranks {
		if r.Admitted != 2 || r.PrefillTokens != 16 {
			t.Errorf("rank %d: %+v, want 2 requests of 8 prompt tokens", r.Rank, r)
		}
	}
}
