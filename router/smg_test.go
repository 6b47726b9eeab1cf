package router

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// polled returns workers with an idle polled snapshot and the given
// in-flight counts.
func polled(loads ...int) []Worker {
	ws := workers(loads...)
	for i := range ws {
		ws[i].Scraped, ws[i].ScrapedAt = true, time.Second
	}
	return ws
}

// first is a TieBreak that takes the first tied worker, for reproducible
// tests.
func first(tied []int) int { return tied[0] }

func TestSymTreeMatchesWholePagesOnly(t *testing.T) {
	ids := func(from, n int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(from + i)
		}
		return out
	}
	tr := newSymTree(4)
	tr.insert(ids(0, 10), 0) // 8 ids cached: two pages
	tests := []struct {
		name  string
		syms  []int32
		want  int
		found bool
	}{
		{"the cached pages", ids(0, 10), 8, true},
		{"a page and a half shared", append(ids(0, 6), 99, 99, 99, 99), 4, true},
		{"less than a page shared", append(ids(0, 3), 99, 99, 99, 99, 99), 0, false},
		{"shorter than a page", ids(0, 3), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := tr.match(tt.syms)
			if got != tt.want || (n != nil) != tt.found {
				t.Errorf("match = %d, node %v; want %d, found %v", got, n != nil, tt.want, tt.found)
			}
		})
	}
	if tr.total != 8 || tr.held[0] != 8 {
		t.Errorf("held %v, total %d; want 8 ids for tenant 0", tr.held, tr.total)
	}
}

func TestSymTreeEvictsTheWholeTreeToItsBoundOldestFirst(t *testing.T) {
	tr := newSymTree(1)
	runes := func(s string) []int32 { return []int32([]rune(s)) }
	tr.insert(runes("aaaa"), 0) // oldest
	tr.insert(runes("bbbb"), 1)
	tr.insert(runes("aacc"), 1) // splits "aaaa": "aa" shared by 0 and 1
	tr.evict(8)
	// Tenant 0's two characters under the split go first (the oldest
	// leaf), then its hold on the shared "aa" that became its leaf; tenant
	// 1 keeps all its 8.
	if tr.total != 8 || tr.held[0] != 0 || tr.held[1] != 8 {
		t.Fatalf("after evicting to 8: total %d, held %v; want 8 = tenant 1's", tr.total, tr.held)
	}
	if got, n := tr.match(runes("aaaa")); got != 2 || len(n.tenants) != 1 || n.tenants[0].t != 1 {
		t.Errorf("aaaa matches %d characters of a node held by %v; want the shared aa held by tenant 1", got, n.tenants)
	}
	tr.removeTenant(1)
	if tr.held[1] != 0 || tr.total != tr.held[0] {
		t.Errorf("after removing tenant 1: held %v, total %d", tr.held, tr.total)
	}
}

func TestSMGCacheAwareFollowsSMG113(t *testing.T) {
	a := strings.Repeat("a", 100)
	b := strings.Repeat("b", 100)
	tests := []struct {
		name  string
		opts  Options
		steps []step
		want  []int
	}{
		{"misses go to the least credited worker since the last poll, not the least in flight",
			Options{}, []step{{a, []int{0, 0, 0}}, {b, []int{0, 9, 9}}, {"c", []int{9, 0, 9}}}, []int{0, 1, 2}},
		{"a hit goes to the holder, whatever the others' load, below the gate",
			Options{}, []step{{a, []int{0, 0}}, {a + "x", []int{3, 0}}}, []int{0, 0}},
		{"the gate: above rel × mean and mean + max(4, ⌈2√mean⌉), the request spills",
			Options{BalanceAbsThreshold: 64, BalanceRelThreshold: 1.5},
			// mean 2 → margin 4: 6 stays (6 > 6 is false); mean 7/3 → 7 > 6.33 spills.
			[]step{{a, []int{0, 0, 0}}, {a, []int{6, 0, 0}}, {a, []int{7, 0, 0}}}, []int{0, 0, 1}},
		{"a small BalanceAbsThreshold is the margin itself",
			Options{BalanceAbsThreshold: 2, BalanceRelThreshold: 1.5},
			[]step{{a, []int{0, 0, 0}}, {a, []int{4, 0, 0}}}, []int{0, 1}},
		{"the spill target is the least credited worker, which then holds the prefix too",
			Options{BalanceAbsThreshold: 2, BalanceRelThreshold: 1.5},
			[]step{{a, []int{0, 0, 0}}, {a, []int{4, 0, 0}}, {a, []int{3, 1, 0}}, {a, []int{3, 2, 0}}}, []int{0, 1, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.TieBreak = first
			p, err := NewSMGCacheAware(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, s := range tt.steps {
				i, err := p.Pick(Request{Text: s.text}, polled(s.loads...))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, i)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMGCacheAwareSpillMargin(t *testing.T) {
	p, err := NewSMGCacheAware(Options{BalanceAbsThreshold: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ avg, want float64 }{{0, 4}, {2, 4}, {5.33, 5}, {5.67, 5}, {7, 6}, {900, 60}, {2000, 64}} {
		if got := p.spillMargin(tt.avg); got != tt.want {
			t.Errorf("margin at mean %v = %v, want %v", tt.avg, got, tt.want)
		}
	}
}

func TestSMGCacheAwareRoutesIDsOnPagesOfIDs(t *testing.T) {
	p, err := NewSMGCacheAware(Options{TieBreak: first, CacheThreshold: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, 40)
	for i := range ids {
		ids[i] = 7 + i
	}
	ws := polled(0, 0)
	pick := func(r Request) int {
		i, err := p.Pick(r, ws)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	if i := pick(Request{InputIDs: ids}); i != 0 {
		t.Fatalf("first pick %d", i)
	}
	// Same 32 ids (two pages) of 40: a hit, although worker 0 has more credit.
	if i := pick(Request{InputIDs: append(slices.Clone(ids[:32]), 1, 2, 3, 4, 5, 6, 7, 8)}); i != 0 {
		t.Errorf("two matched pages of 40 went to %d, want the holder 0", i)
	}
	// The same ids as text never match the token tree.
	if i := pick(Request{Text: RoutingText("", ids)}); i != 1 {
		t.Errorf("the ids' text went to %d, want the least credited 1", i)
	}
	chars, tokens := p.TreeSize()
	// The second request's 8 extra ids are half a page: not cached.
	if tokens["http://w0"] != 32 || tokens["http://w1"] != 0 || chars["http://w1"] != len(RoutingText("", ids)) {
		t.Errorf("tree sizes chars %v tokens %v; want 32 ids on w0 and w1's text", chars, tokens)
	}
}

func TestExpectedWaitScoresAsSMGLeastLoad(t *testing.T) {
	e, err := newExpectedWait(Options{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		w          Worker
		nominal    float64
		fleet, tot bool
		want       float64
	}{
		{"waiting tokens over throughput", Worker{Scraped: true, WaitingTokens: 3000, Queued: 9, Throughput: 1000}, 0, true, false, 3},
		{"queued requests × mean prefill when no waiting tokens", Worker{Scraped: true, Queued: 2, Throughput: 1024}, 0, true, false, 2},
		{"default throughput", Worker{Scraped: true, Queued: 1}, 0, true, false, 0.512},
		{"KV barrier", Worker{Scraped: true, TokenUsage: 0.5}, 0, true, false, 0.15},
		{"KV usage capped at 0.999", Worker{Scraped: true, TokenUsage: 1}, 0, true, false, 0.15 * 0.999 / (1 - 0.999)},
		{"not polled among polled: in flight × mean prefill at the nominal throughput", Worker{InFlight: 2}, 4096, true, false, 0.5},
		{"nothing polled: in flight", Worker{InFlight: 3}, 0, false, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.URL = tt.name
			if got := e.score(&tt.w, tt.nominal, tt.fleet); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("score = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLeastLoadCreditsUntilTheNextRefresh(t *testing.T) {
	p, err := NewLeastLoad(Options{TieBreak: first})
	if err != nil {
		t.Fatal(err)
	}
	ws := polled(0, 0)
	var got []int
	for _, r := range []Request{{Text: "x"}, {InputIDs: make([]int, 100)}, {InputIDs: make([]int, 100)}} {
		i, _ := p.Pick(r, ws)
		got = append(got, i)
	}
	// 1024 credited to 0; 100 and 200 to 1.
	ws[0].ScrapedAt = 2 * time.Second // worker 0 refreshed: its credit is gone
	i, _ := p.Pick(Request{Text: "y"}, ws)
	got = append(got, i)
	if diff := cmp.Diff([]int{0, 1, 1, 0}, got); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
}

func TestLeastLoadWaitingCapSkipsFullQueuesAndFailsWhenAllAre(t *testing.T) {
	p, err := NewLeastLoad(Options{MaxWaitingRequests: 2, TieBreak: first})
	if err != nil {
		t.Fatal(err)
	}
	ws := polled(0, 0)
	ws[0].Queued = 2
	ws[0].Throughput, ws[1].Throughput = 1e9, 1 // 0 would win on score
	if i, err := p.Pick(Request{}, ws); err != nil || i != 1 {
		t.Errorf("Pick = %d, %v; want 1 (0's queue is at the cap)", i, err)
	}
	ws[1].Queued = 1 // 1 + the request just sent = 2
	if _, err := p.Pick(Request{}, ws); !errors.Is(err, ErrAllWaitingCapped) {
		t.Errorf("Pick with every queue at the cap = %v, want ErrAllWaitingCapped", err)
	}
}

func TestSMGPowerOfTwoNeverPicksTheWorseOfTwo(t *testing.T) {
	p, err := NewSMGPowerOfTwo(Options{Seed: 3, TieBreak: first})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 50 {
		ws := polled(0, 0)
		ws[0].Queued, ws[1].Queued = 5, 1
		// A new poll each time: no credit carries over.
		ws[0].ScrapedAt, ws[1].ScrapedAt = time.Duration(n), time.Duration(n)
		if i, _ := p.Pick(Request{}, ws); i != 1 {
			t.Fatalf("picked %d, the longer queue", i)
		}
	}
	seen := map[int]bool{}
	for n := range 200 {
		ws := polled(0, 0, 0)
		ws[0].Queued, ws[1].Queued, ws[2].Queued = 1, 2, 3
		for i := range ws {
			ws[i].ScrapedAt = time.Duration(n)
		}
		i, _ := p.Pick(Request{}, ws)
		seen[i] = true
	}
	if seen[2] || !seen[0] || !seen[1] {
		t.Errorf("picked %v over 200 draws; want 0 and 1 (the better of each pair), never 2", seen)
	}
}

func TestConsistentHashingKeepsAKeyOnItsWorkerAndMovesOnlyTheLeaversKeys(t *testing.T) {
	p := NewConsistentHashing(1)
	ws := workers(0, 0, 0, 0)
	where := map[string]string{}
	for k := range 200 {
		key := fmt.Sprintf("user-%d", k)
		i, _ := p.Pick(Request{RoutingKey: key}, ws)
		j, _ := p.Pick(Request{RoutingKey: key}, ws)
		if i != j {
			t.Fatalf("key %s went to %d then %d", key, i, j)
		}
		where[key] = ws[i].URL
	}
	counts := map[string]int{}
	for _, u := range where {
		counts[u]++
	}
	if len(counts) != 4 {
		t.Errorf("200 keys reached %d of 4 workers: %v", len(counts), counts)
	}
	fewer := slices.Delete(slices.Clone(ws), 1, 2) // w1 leaves
	for key, u := range where {
		i, _ := p.Pick(Request{RoutingKey: key}, fewer)
		if u != "http://w1" && fewer[i].URL != u {
			t.Errorf("key %s moved from %s to %s although its worker stayed", key, u, fewer[i].URL)
		}
	}
	if _, ok := hashableKey(strings.Repeat("k", 129)); ok {
		t.Error("a 129-byte key is hashed; smg ignores keys over 128 bytes")
	}
}

func TestPrefixHashWalksOffAnOverloadedRingTarget(t *testing.T) {
	p, err := NewPrefixHash(Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("shared prefix ", 100)
	target, _ := p.Pick(Request{Text: text + "one"}, workers(0, 0, 0))
	again, _ := p.Pick(Request{Text: text + "two"}, workers(0, 0, 0))
	if target != again {
		t.Fatalf("two prompts sharing their first 1024 characters went to %d and %d", target, again)
	}
	loads := []int{0, 0, 0}
	loads[target] = 17 // 18 in flight, mean (18+1)/3 = 6.33: threshold max(7.9, 16.33); 17 is over
	loads[(target+1)%3] = 1
	i, _ := p.Pick(Request{Text: text}, workers(loads...))
	if want := (target + 2) % 3; i != want {
		t.Errorf("overloaded target: picked %d, want the least loaded %d (loads %v)", i, want, loads)
	}
	loads[target] = 16 // mean 6: threshold 16, and 16 is not over it
	if i, _ := p.Pick(Request{Text: text}, workers(loads...)); i != target {
		t.Errorf("target within the bound: picked %d, want %d", i, target)
	}
	if i, _ := p.Pick(Request{}, workers(3, 1, 2)); i != 1 {
		t.Errorf("nothing to hash: picked %d, want the least loaded 1", i)
	}
}

func TestManualPinsKeysAndFallsBackWhenTheirWorkerIsGone(t *testing.T) {
	now := time.Unix(0, 0)
	p, err := NewManual(Options{AssignmentMode: AssignMinLoad, TieBreak: first, EvictionInterval: time.Minute, MaxIdle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.now = func() time.Time { return now }
	ws := workers(0, 1, 2)
	k1, _ := p.Pick(Request{RoutingKey: "k1"}, ws) // min load: w0
	ws[0].InFlight = 9
	k2, _ := p.Pick(Request{RoutingKey: "k2"}, ws) // min load: w1
	again, _ := p.Pick(Request{RoutingKey: "k1"}, ws)
	if k1 != 0 || k2 != 1 || again != 0 {
		t.Fatalf("k1 %d, k2 %d, k1 again %d; want 0 1 0", k1, k2, again)
	}
	// w0 leaves: k1 is placed again (min load of w1, w2) and remembers both.
	left := ws[1:]
	if i, _ := p.Pick(Request{RoutingKey: "k1"}, left); left[i].URL != "http://w1" {
		t.Errorf("k1 without w0 went to %s, want w1", left[i].URL)
	}
	if i, _ := p.Pick(Request{RoutingKey: "k1"}, ws); i != 0 {
		t.Errorf("k1 with w0 back went to %d, want its first pin w0", i)
	}
	now = now.Add(2 * time.Hour)
	if _, _ = p.Pick(Request{}, ws); p.Keys() != 0 {
		t.Errorf("%d keys remembered after two idle hours, want 0", p.Keys())
	}
	if _, err := NewManual(Options{AssignmentMode: "min_group"}); err == nil || !strings.Contains(err.Error(), "AssignmentMode") {
		t.Errorf("min_group accepted: %v", err)
	}
}

func TestLoadIntervalIsTheRealRoutersPollPeriod(t *testing.T) {
	for name, want := range map[string]time.Duration{
		"power_of_two": SGLangRouterLoadInterval, "smg_power_of_two": SMGLoadInterval, "least_load": SMGLoadInterval,
		"smg_cache_aware": SMGLoadInterval, "cache_aware": 0, "random": 0, "manual": 0,
	} {
		p, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := LoadInterval(p); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func TestEquivalentNamesARegisteredPolicyForEveryRouterPolicy(t *testing.T) {
	for realRouter, m := range equivalents {
		for policy, ours := range m {
			if _, err := New(ours, Options{}); err != nil {
				t.Errorf("%s %s → %s: %v", realRouter, policy, ours, err)
			}
		}
	}
	if got, ok := Equivalent(SMG, "cache_aware"); !ok || got != "smg_cache_aware" {
		t.Errorf("smg cache_aware → %q, %v", got, ok)
	}
	if got, ok := Equivalent(SGLangRouter, "cache_aware"); !ok || got != "cache_aware" {
		t.Errorf("sglang-router cache_aware → %q, %v", got, ok)
	}
	if _, ok := Equivalent(SMG, "bucket"); ok {
		t.Error("smg bucket has an equivalent; it is PD prefill only")
	}
}
