package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/timeline"
)

const ms = time.Millisecond

// resultOf builds a finished run from records and events, as a Recorder
// would, without a run directory.
func resultOf(recs []metrics.Record, events ...timeline.Event) *Result {
	st := metrics.NewStore()
	for _, r := range recs {
		st.Add(r)
	}
	sum := st.Summary()
	return &Result{Dir: "reports/x", Store: st, File: report.SummaryFile{Summary: sum, Valid: true, Events: events,
		Header: report.Header{Servers: []report.ServerRef{{Name: "server-1", URL: "http://a"}, {Name: "server-2", URL: "http://b"}}}}}
}

// ok is a successful streamed request sent at `at` to target, taking lat
// with its first token after ttft.
func ok(i int, target string, at, ttft, lat time.Duration) metrics.Record {
	return metrics.Record{Index: i, Target: target, Status: 200, OutputTokens: 2, InputTokens: 10,
		Scheduled: at, Arrival: at, Sent: at, FirstToken: at + ttft, Done: at + lat,
		Chunks: []metrics.Chunk{{At: at + ttft, Tokens: 1}, {At: at + lat, Tokens: 1}}}
}

func failed(i int, target string, at, took time.Duration, why string) metrics.Record {
	return metrics.Record{Index: i, Target: target, Scheduled: at, Arrival: at, Sent: at, Done: at + took, Error: why}
}

func testWith(r *Result) *Test { return &Test{runs: []*Result{r}} }

func TestChecksStateMeasuredValueBoundAndRun(t *testing.T) {
	var recs []metrics.Record
	for i := range 9 {
		recs = append(recs, ok(i, "http://a", time.Duration(i)*100*ms, 20*ms, time.Duration(100+i*100)*ms))
	}
	recs = append(recs, failed(9, "http://b", 950*ms, 10*ms, "HTTP 503: full"))
	r := resultOf(recs)
	bound := func(stat, fig, cmp, n, unit string) Bound {
		b, err := NewBound(stat, fig, cmp, n, unit)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		check   func(*Test) error
		wantErr string // "" means the check passes
	}{
		{"a latency under its bound passes", func(t *Test) error { return t.Check(Step{}, bound("P99", "total latency", "below", "2", "s")) }, ""},
		{"a latency over its bound states value, bound and run", func(t *Test) error { return t.Check(Step{}, bound("P99", "total latency", "<", "500", "ms")) },
			"P99 total latency is 892.0 ms, expected below 500 ms (run: reports/x)"},
		{"seconds are compared in seconds", func(t *Test) error { return t.Check(Step{}, bound("max", "server latency", "at most", "0.9", "s")) }, ""},
		{"a percentile between the usual ones is exact", func(t *Test) error { return t.Check(Step{}, bound("p99.9", "ttft", ">=", "20", "ms")) }, ""},
		{"throughput below its bound states value and bound", func(t *Test) error {
			return t.Check(Step{}, bound("", "request throughput", "at least", "1000", "req/s"))
		}, "request throughput is 5.29 req/s, expected at least 1000 req/s"},
		{"the error rate counts failures over requests sent", func(t *Test) error { return t.Check(Step{}, bound("", "error rate", "below", "5", "%")) },
			"error rate is 10.00%, expected below 5 %"},
		{"a figure on one server reads that server's requests", func(t *Test) error {
			return t.Check(Step{}, Bound{Figure: bound("", "error rate", "<", "1", "%").Figure, Cmp: "below", Value: 1, Given: "1 %", Server: 1})
		}, ""},
		{"a latency in every window names the worst window", func(t *Test) error {
			b := bound("max", "server latency", "below", "500", "ms")
			b.Window = 300 * ms
			return t.Check(Step{}, b)
		}, "in the window from 600ms to 900ms"},
		{"failures are listed by reason", func(t *Test) error { return t.CheckAllSucceeded(Step{}) }, "1 of 10 requests failed: 1× HTTP 503: full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(testWith(r))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestBoundsThatCannotBeReadSayWhy(t *testing.T) {
	for _, tc := range []struct {
		stat, fig, cmp, n, unit, want string
	}{
		{"mean", "latncy", "below", "1", "s", `unknown figure "latncy"`},
		{"", "ttft", "below", "1", "s", "needs a statistic"},
		{"P99", "request throughput", "below", "1", "req/s", "takes no statistic"},
		{"", "request throughput", "at least", "1", "tok/s", "measured in req/s"},
		{"P99", "ttft", "about", "1", "s", "unknown comparison"},
		{"P100", "ttft", "below", "1", "s", "unknown statistic"},
	} {
		if _, err := NewBound(tc.stat, tc.fig, tc.cmp, tc.n, tc.unit); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc, err, tc.want)
		}
	}
	r := resultOf([]metrics.Record{{Status: 200, OutputTokens: 1, Done: ms, Chunks: nil}})
	b, _ := NewBound("P99", "tpot", "below", "1", "ms")
	if err := testWith(r).Check(Step{}, b); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("TPOT without samples: %v, want it to say there are no samples, never 0 ms", err)
	}
}

func TestEveryBoundIsRecordedForTheSummaryPassOrFail(t *testing.T) {
	r := resultOf([]metrics.Record{ok(0, "http://a", 0, 10*ms, 50*ms)})
	tt := testWith(r)
	pass, _ := NewBound("median", "ttft", "below", "1", "s")
	fail, _ := NewBound("median", "ttft", "below", "1", "ms")
	_ = tt.Check(Step{Text: "the median TTFT is below 1 s", Where: "x.feature:3"}, pass)
	_ = tt.Check(Step{Text: "the median TTFT is below 1 ms", Where: "x.feature:4"}, fail)
	got := tt.bounds[r]
	if len(got) != 2 || !got[0].Pass || got[1].Pass || got[1].Where != "x.feature:4" || got[1].Measured == nil || *got[1].Measured != 10 {
		t.Errorf("recorded bounds %+v", got)
	}
}

func TestFailoverIsTheTimeFromTheFaultToTheLastFailure(t *testing.T) {
	recs := []metrics.Record{
		ok(0, "http://a", 0, 10*ms, 50*ms),
		failed(1, "http://b", 1000*ms, 5*ms, "transport: connection reset"),
		failed(2, "http://b", 1200*ms, 300*ms, "transport: connection refused"), // the last, done at 1.5 s
		ok(3, "http://a", 1300*ms, 10*ms, 50*ms),
	}
	r := resultOf(recs, timeline.Event{At: 1000 * ms, Kind: timeline.Killed, Target: "server-2"})
	if err := testWith(r).CheckFailover(Step{}, "server-2", 600*ms); err != nil {
		t.Errorf("500 ms failover against a 600 ms bound: %v", err)
	}
	if err := testWith(r).CheckFailover(Step{}, "server-2", 400*ms); err == nil || !strings.Contains(err.Error(), "500.0 ms") {
		t.Errorf("500 ms failover against a 400 ms bound: %v", err)
	}
	if err := testWith(r).CheckFailover(Step{}, "server-1", time.Second); err == nil || !strings.Contains(err.Error(), "neither killed nor stopped") {
		t.Errorf("a server never killed: %v", err)
	}
}

func TestRecoveryIsWhenTheBoundHoldsInEveryLaterWindow(t *testing.T) {
	var recs []metrics.Record
	for i := range 100 {
		at := time.Duration(i) * 100 * ms // 10 s of requests, 10 per second
		ttft := 50 * ms
		if at >= 5*time.Second && at < 7500*ms {
			ttft = 900 * ms // slow for 2.5 s after the restore at 5 s
		}
		recs = append(recs, ok(i, "http://a", at, ttft, ttft+10*ms))
	}
	r := resultOf(recs, timeline.Event{At: 5 * time.Second, Kind: timeline.Restored, Target: "server-2"})
	b, _ := NewBound("P99", "ttft", "below", "500", "ms")
	if err := testWith(r).CheckRecovery(Step{}, b, "server-2", 3*time.Second); err != nil {
		t.Errorf("recovered after 3 s, within 3 s: %v", err)
	}
	if err := testWith(r).CheckRecovery(Step{}, b, "server-2", 2*time.Second); err == nil || !strings.Contains(err.Error(), "3.000 s") {
		t.Errorf("recovered after 3 s, bound 2 s: %v", err)
	}
}

func TestCheckBeforeAnyRunSaysSo(t *testing.T) {
	err := (&Test{}).CheckAllSucceeded(Step{})
	if err == nil || !strings.Contains(err.Error(), "no load has run") {
		t.Fatalf("got %v", err)
	}
}

func TestSettingsRejectUnusableEnvironment(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{EnvBackend: "vllm"}, `SGLTEST_BACKEND="vllm": expected "sim" or "sglang"`},
		{map[string]string{EnvBackend: "sglang"}, "needs SGLTEST_MODEL"},
		{map[string]string{EnvGPUs: "0,x"}, "SGLTEST_GPUS"},
		{map[string]string{EnvGPUs: "0, 3"}, ""},
	}
	for _, tc := range tests {
		for _, k := range []string{EnvBackend, EnvModel, EnvGPUs} {
			t.Setenv(k, "")
		}
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		s, err := SettingsFromEnv()
		if tc.wantErr == "" {
			if err != nil || len(s.GPUs) != 2 || s.GPUs[1] != 3 {
				t.Errorf("%v: got %+v, %v", tc.env, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want %q", tc.env, err, tc.wantErr)
		}
	}
}
