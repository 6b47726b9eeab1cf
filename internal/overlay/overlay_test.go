package overlay

import (
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// store holds n successful requests, one every 100 ms, whose latencies
// are scaled by f.
func store(seed uint64, n int, f float64) *metrics.Store {
	rng := rand.New(rand.NewPCG(seed, 1))
	st := metrics.NewStore()
	for i := range n {
		at := time.Duration(i) * 100 * time.Millisecond
		ttft := time.Duration(f * float64(20+rng.IntN(30)) * float64(time.Millisecond))
		lat := ttft + time.Duration(f*float64(200+rng.IntN(200))*float64(time.Millisecond))
		st.Add(metrics.Record{Index: i, Status: 200, InputTokens: 100, OutputTokens: 20, Scheduled: at, Arrival: at, Sent: at,
			FirstToken: at + ttft, Done: at + lat,
			Chunks: []metrics.Chunk{{At: at + ttft, Tokens: 1}, {At: at + (ttft+lat)/2, Tokens: 9}, {At: at + lat, Tokens: 10}}})
	}
	return st
}

func TestWriteDrawsEveryChartOfEverySide(t *testing.T) {
	dir := t.TempDir()
	sides := []Side{
		{Label: "A", Stores: []*metrics.Store{store(1, 300, 1), store(2, 250, 1)}},
		{Label: "B", Stores: []*metrics.Store{store(3, 300, 1.2)}},
		{Label: "empty", Stores: []*metrics.Store{metrics.NewStore()}},
	}
	paths, err := Write(dir, sides)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{TTFTChart: {1200, 600}, ITLChart: {1200, 600}, E2EChart: {1200, 600}, ThroughputChart: {1200, 800}}
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %d charts", paths, len(want))
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		size, ok := want[filepath.Base(p)]
		if err != nil || !ok || cfg.Width != size[0] || cfg.Height != size[1] {
			t.Errorf("%s: %dx%d (%v), want %v", p, cfg.Width, cfg.Height, err, size)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, err := Write(dir, []Side{{Label: "no runs"}}); err == nil {
		t.Error("a side without runs gave no error")
	}
}

func TestCDFPointsAreExactQuantilesFromMinToMax(t *testing.T) {
	for _, n := range []int{1, 2, 7, 2001, 50000} {
		v := make([]float64, n)
		rng := rand.New(rand.NewPCG(uint64(n), 2))
		for i := range v {
			v[i] = rng.ExpFloat64()
		}
		slices.Sort(v)
		xys := cdfPoints(v)
		if len(xys) > quantiles+1 {
			t.Errorf("n=%d: %d points, want at most %d", n, len(xys), quantiles+1)
		}
		first, last := xys[0], xys[len(xys)-1]
		if first.X != v[0] || first.Y != 0 || last.X != v[n-1] || last.Y != 1 {
			t.Errorf("n=%d: from %v to %v, want from (min, 0) to (max, 1)", n, first, last)
		}
		for i := 1; i < len(xys); i++ {
			if xys[i].X < xys[i-1].X || xys[i].Y <= xys[i-1].Y && n > 1 {
				t.Fatalf("n=%d: not increasing at %d: %v then %v", n, i, xys[i-1], xys[i])
			}
		}
		if n > 1 {
			mid := xys[len(xys)/2]
			if want := metrics.Percentile(v, 100*mid.Y); mid.X != want {
				t.Errorf("n=%d: the point at q=%v is %v, want the quantile %v", n, mid.Y, mid.X, want)
			}
		}
	}
}

// BenchmarkWrite draws the four charts of two sides of five repeats of
// 2000 requests each.
func BenchmarkWrite(b *testing.B) {
	var sides []Side
	for s := range 2 {
		var sts []*metrics.Store
		for r := range 5 {
			sts = append(sts, store(uint64(10*s+r), 2000, 1+0.2*float64(s)))
		}
		sides = append(sides, Side{Label: string(rune('A' + s)), Stores: sts})
	}
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(dir, sides); err != nil {
			b.Fatal(err)
		}
	}
}
