package report

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/export"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// recordedRun streams a two-server virtual-time run with a fault into a
// Recorder under root and closes it.
func recordedRun(t *testing.T, root, name string, seed uint64) (*Result, []metrics.Record) {
	t.Helper()
	run, err := Create(root, name)
	if err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Scenario: "two servers, one killed", Label: "round_robin", Clock: plan.Virtual,
		Servers: []plan.Server{{Name: "server-1"}, {Name: "server-2"}},
		Routing: &plan.Routing{Via: plan.ViaDispatcher, Policy: "round_robin"}, Started: time.Date(2026, 11, 23, 19, 55, 1, 0, time.UTC)}
	rec, err := NewRecorder(run, p, Header{Model: "m", GPU: "2 × simulated H100", RequestRate: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Event(timeline.Event{At: 0, Kind: timeline.Started, Target: "server-1", Argv: []string{"sgltest", "sim", "--model-path", "a b"}})
	rec.Event(timeline.Event{At: 0, Kind: timeline.Started, Target: "server-2", Argv: []string{"sgltest", "sim"}})
	rec.Event(timeline.Event{At: 0, Kind: timeline.LoadStarted})
	recs := randomRecords(rand.New(rand.NewPCG(seed, 1)), 200)
	for i := range recs {
		recs[i].Target = fmt.Sprintf("server-%d", 1+i%2)
		rec.Add(recs[i])
	}
	for k := range 12 {
		for i := range 2 {
			rec.Sample(i, workerstate.Sample{At: time.Duration(k) * 250 * ms1, Running: k % 5, Queued: i,
				Counters: workerstate.Counters{Requests: float64(10 * k), PromptTokens: float64(100 * k)}})
		}
	}
	rec.Event(timeline.Event{At: 1500 * ms1, Kind: timeline.Killed, Target: "server-2", Planned: true})
	rec.Event(timeline.Event{At: 3900 * ms1, Kind: timeline.LoadFinished})
	res, err := rec.Close("round_robin", timeline.Outcome{Health: load.Health{Valid: true, ScheduleLagP99: ms1},
		GPU: timeline.GPU{Source: "simulated", Samples: gpuSamples(true)}})
	if err != nil {
		t.Fatal(err)
	}
	return res, recs
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportPageShowsTheRunSelfContained(t *testing.T) {
	root := t.TempDir()
	res, _ := recordedRun(t, root, "20261123-195501.000-two-servers", 1)
	page := readText(t, filepath.Join(res.Dir, HTMLFile))

	if n := strings.Count(page, `src="data:image/png;base64,`); n != len(res.Charts) || n < 8 {
		t.Errorf("%d embedded images for %d charts (want every chart, at least 8)", n, len(res.Charts))
	}
	// Nothing is fetched: no script, no stylesheet link, no remote source.
	for _, bad := range []string{"<script", "<link", `src="http`, "url(http", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	for _, want := range []string{
		"two servers, one killed", "round_robin", `class="verdict v-pass"`,
		"Server latency (sent → done)", // the summary's distributions
		"server-2", "killed",           // the timeline
		"sgltest sim --model-path &#39;a b&#39;", // the exact argv, quoted as typed
		"Simulated:",                             // the GPU section says so
		`href="requests.parquet"`, `href="servers.csv"`, `href="events.jsonl"`, `href="config.json"`,
		`href="../index.html"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, c := range res.Charts {
		if !strings.Contains(page, `id="chart-`+c.File+`"`) {
			t.Errorf("report.html lacks chart %s", c.File)
		}
	}
	// Every file it links to exists.
	for _, m := range regexp.MustCompile(`href="([^"#]+)"`).FindAllStringSubmatch(page, -1) {
		if _, err := os.Stat(filepath.Join(res.Dir, m[1])); err != nil {
			t.Errorf("report.html links to %s: %v", m[1], err)
		}
	}

	// The verdict, once judged, is on the page and in the index.
	v := 1234.5
	bounds := []Bound{{Step: "the P99 total latency is below 1 s", Where: "node.feature:9", Figure: "P99 total latency",
		Measured: &v, Unit: "ms", Pass: false, Message: "P99 total latency is 1,234.5 ms, expected below 1 s"}}
	if err := WriteVerdict(res, bounds); err != nil {
		t.Fatal(err)
	}
	page = readText(t, filepath.Join(res.Dir, HTMLFile))
	for _, want := range []string{`class="verdict v-fail"`, "the P99 total latency is below 1 s", "node.feature:9", "1,234.5 ms", "FAIL"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html after WriteVerdict lacks %q", want)
		}
	}
	index := readText(t, filepath.Join(root, IndexFile))
	for _, want := range []string{"20261123-195501.000-two-servers/report.html", `v-fail">fail`, "the P99 total latency is below 1 s"} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

func TestTablesOfARunReadBackAsRecorded(t *testing.T) {
	res, recs := recordedRun(t, t.TempDir(), "20261123-195501.000-tables", 2)
	var want []export.Request
	for _, r := range recs {
		if !r.Warmup {
			want = append(want, export.RequestOf(r))
		}
	}
	path := func(name string) string { return filepath.Join(res.Dir, name) }
	fromCSV, err := export.ReadCSV[export.Request](path("requests.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fromPQ, err := export.ReadParquet[export.Request](path("requests.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(want, fromCSV); diff != "" {
		t.Errorf("requests.csv (-recorded +read):\n%s", diff)
	}
	if diff := gocmp.Diff(want, fromPQ); diff != "" {
		t.Errorf("requests.parquet (-recorded +read):\n%s", diff)
	}

	servers, err := export.ReadParquet[export.ServerSample](path("servers.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	serversCSV, err := export.ReadCSV[export.ServerSample](path("servers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 24 || !gocmp.Equal(servers, serversCSV) || servers[13] != (export.ServerSample{AtS: 0.25, Server: "server-2", Running: 1, Queued: 1}) {
		t.Errorf("servers: %d rows, CSV equal %v, row 13 %+v", len(servers), gocmp.Equal(servers, serversCSV), servers[13])
	}
	events, err := export.ReadCSV[export.Event](path("events.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(res.File.Events) || events[3] != export.EventOf(res.File.Events[3]) {
		t.Errorf("events.csv: %d rows for %d events", len(events), len(res.File.Events))
	}
	gpu, err := export.ReadParquet[export.GPUSample](path("gpu.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gpu) != len(res.GPUSamples) || !gpu[0].Simulated {
		t.Errorf("gpu.parquet: %d rows for %d samples", len(gpu), len(res.GPUSamples))
	}
}

func TestIndexHasEveryRunWhenRunsFinishAtOnce(t *testing.T) {
	root := t.TempDir()
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			run, err := Create(root, fmt.Sprintf("20261123-1955%02d.000-run", i))
			if err != nil {
				t.Error(err)
				return
			}
			f := SummaryFile{Version: SummaryVersion, Valid: true, Summary: metrics.Summary{Requests: i}}
			if i%2 == 1 {
				f.Valid, f.Invalid = false, "the client fell behind"
			}
			if err := run.WriteSummary(f); err != nil {
				t.Error(err)
				return
			}
			if err := WriteIndex(root); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	index := readText(t, filepath.Join(root, IndexFile))
	last := -1
	for i := n - 1; i >= 0; i-- {
		at := strings.Index(index, fmt.Sprintf("20261123-1955%02d.000-run/", i))
		if at < 0 {
			t.Fatalf("index.html lacks run %d", i)
		}
		if at < last {
			t.Errorf("run %d is listed before a newer run", i)
		}
		last = at
	}
	if !strings.Contains(index, "3 pass, 3 invalid") || !strings.Contains(index, "the client fell behind") {
		t.Error("index.html does not count the verdicts or say why runs were invalid")
	}
	if entries, _ := filepath.Glob(filepath.Join(root, ".*.tmp")); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestShellJoinQuotesWhatAShellWouldSplit(t *testing.T) {
	got := shellJoin([]string{"python", "-m", "sglang.launch_server", "--model-path", "my model", "it's", "", "--port=3000"})
	want := `python -m sglang.launch_server --model-path 'my model' 'it'\''s' '' --port=3000`
	if got != want {
		t.Errorf("shellJoin = %s, want %s", got, want)
	}
}
