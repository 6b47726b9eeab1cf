package export

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// writeTable writes rows through a Writer to name.csv and name.parquet in
// dir and returns their paths.
func writeTable[T any](t *testing.T, dir, name string, rows []T) (csvPath, pqPath string) {
	t.Helper()
	csvPath, pqPath = filepath.Join(dir, name+".csv"), filepath.Join(dir, name+".parquet")
	c, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.Create(pqPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter[T](c, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != len(rows) {
		t.Errorf("Rows() = %d, want %d", w.Rows(), len(rows))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return csvPath, pqPath
}

// checkRoundTrip reads both files back and compares them with rows.
func checkRoundTrip[T any](t *testing.T, name string, rows []T) {
	t.Helper()
	csvPath, pqPath := writeTable(t, t.TempDir(), name, rows)
	fromCSV, err := ReadCSV[T](csvPath)
	if err != nil {
		t.Fatal(err)
	}
	fromPQ, err := ReadParquet[T](pqPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, fromCSV); diff != "" {
		t.Errorf("%s.csv read back (-written +read):\n%s", name, diff)
	}
	if diff := cmp.Diff(rows, fromPQ); diff != "" {
		t.Errorf("%s.parquet read back (-written +read):\n%s", name, diff)
	}
}

func randomText(rng *rand.Rand) string {
	parts := []string{"", "HTTP 503", `a "quoted", comma`, "two\nlines", "ünïcode ✓", " padded "}
	return parts[rng.IntN(len(parts))]
}

func TestTablesReadBackTheSameValuesFromCSVAndParquet(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var reqs []Request
	// More than one row group's batch, so batching is exercised.
	for i := range 2500 {
		sent := time.Duration(rng.Int64N(int64(time.Hour)))
		r := metrics.Record{Index: i, RID: "sgltest-" + randomText(rng), Target: "http://127.0.0.1:1234",
			Status: []int{200, 503, 0}[rng.IntN(3)], Error: randomText(rng), Cancelled: rng.IntN(9) == 0,
			InputTokens: rng.IntN(4000), RequestedOutputTokens: rng.IntN(512), OutputTokens: rng.IntN(512),
			OutputTokensEstimated: rng.IntN(2) == 0, CachedTokens: rng.IntN(100),
			Scheduled: sent - 5, Arrival: sent - 3, Routed: sent - 1, Sent: sent, FirstToken: sent + 7, Done: sent + 1e9,
			Chunks: make([]metrics.Chunk, rng.IntN(5))}
		reqs = append(reqs, RequestOf(r))
	}
	checkRoundTrip(t, "requests", reqs)

	var servers []ServerSample
	for i := range 300 {
		servers = append(servers, ServerSample{AtS: float64(i) * 0.250000123, Server: "server-1", Running: rng.Int64N(64),
			Queued: rng.Int64N(10), UsedTokens: rng.Int64N(1 << 20), TokenUsage: rng.Float64(),
			CacheHitRate: float64(float32(rng.Float64())), GenThroughput: rng.Float64() * 1e4})
	}
	checkRoundTrip(t, "servers", servers)

	var gpus []GPUSample
	for i := range 200 {
		g := telemetry.GPU{At: time.Duration(i) * 100 * time.Millisecond, Index: i % 2, Name: "NVIDIA H100", Simulated: i%3 == 0,
			UtilizationPct: telemetry.Figure{Value: rng.Float64() * 100}, MemoryUsedBytes: telemetry.Figure{Value: 80e9 * rng.Float64()},
			PowerWatts: telemetry.Figure{Missing: "not supported"}, SMActivityPct: telemetry.Figure{Value: math.SmallestNonzeroFloat64},
			ThrottleReasons: telemetry.Reading[[]string]{Value: [][]string{nil, {"sw_power_cap", "hw_slowdown"}}[i%2]}}
		if i%5 == 0 {
			g.ThrottleReasons = telemetry.Reading[[]string]{Missing: "unsupported"}
		}
		gpus = append(gpus, GPUSampleOf(g))
	}
	checkRoundTrip(t, "gpu", gpus)

	events := []Event{
		EventOf(timeline.Event{At: -20 * time.Millisecond, Kind: timeline.Started, Target: "server-1", URL: "http://127.0.0.1:5",
			Argv: []string{"sgltest", "sim", "--port", "5"}}),
		EventOf(timeline.Event{At: 8103 * time.Millisecond, Kind: timeline.Killed, Target: "server-2", Planned: true}),
		EventOf(timeline.Event{At: 12 * time.Second, Kind: timeline.Restored, Target: "server-2", Away: 3900 * time.Millisecond}),
		EventOf(timeline.Event{At: 13 * time.Second, Kind: timeline.Stopping, Detail: "interrupted, by signal"}),
	}
	checkRoundTrip(t, "events", events)
}

func TestGPUSampleOfLeavesUnreadFiguresMissingNotZero(t *testing.T) {
	row := GPUSampleOf(telemetry.GPU{Index: 1, UtilizationPct: telemetry.Figure{Value: 0},
		PowerWatts: telemetry.Figure{Missing: "unsupported"}, ThrottleReasons: telemetry.Reading[[]string]{Missing: "unsupported"}})
	if row.UtilizationPct == nil || *row.UtilizationPct != 0 {
		t.Errorf("a read 0 %% utilisation = %v, want 0", row.UtilizationPct)
	}
	if row.PowerWatts != nil {
		t.Errorf("unread power = %v, want nil", *row.PowerWatts)
	}
	if row.ThrottleReasons != "" {
		t.Errorf("unread throttle reasons = %q, want empty", row.ThrottleReasons)
	}
	if got := GPUSampleOf(telemetry.GPU{}).ThrottleReasons; got != "none" {
		t.Errorf("throttle reasons read as none = %q, want none", got)
	}
}

func TestReadCSVNamesTheLineAndColumnOfABadCell(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTable(t, dir, "servers", []ServerSample{{AtS: 1, Server: "server-1"}})
	b, _ := os.ReadFile(path)
	bad := strings.Replace(string(b), "1,server-1,0", "1,server-1,many", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadCSV[ServerSample](path)
	if err == nil || !strings.Contains(err.Error(), "servers.csv:2: column running: expected an integer") {
		t.Fatalf("error = %v, want one naming servers.csv:2 and column running", err)
	}
}

func TestColumnsFollowTheParquetTagsInOrder(t *testing.T) {
	got := Columns[ServerSample]()
	want := []string{"at_s", "server", "running", "queued", "used_tokens", "token_usage", "cache_hit_rate", "gen_throughput", "role"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}

// TestEveryColumnIsDocumented keeps reports/README.md's column tables in
// step with the row types.
func TestEveryColumnIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../reports/README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for table, cols := range map[string][]string{
		"requests": Columns[Request](), "servers": Columns[ServerSample](), "gpu": Columns[GPUSample](), "events": Columns[Event](),
	} {
		at := strings.Index(doc, "`"+table+"` (one row per")
		if at < 0 {
			t.Errorf("reports/README.md has no column table for %s", table)
			continue
		}
		section := doc[at+len(table)+2:]
		if end := strings.Index(section, "` (one row per"); end >= 0 {
			section = section[:end] // up to the next table
		}
		for _, c := range cols {
			if !strings.Contains(section, "`"+c+"`") {
				t.Errorf("reports/README.md does not document %s's column %s", table, c)
			}
		}
	}
}
