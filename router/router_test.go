package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func workers(loads ...int) []Worker {
	ws := make([]Worker, len(loads))
	for i, l := range loads {
		ws[i] = Worker{URL: fmt.Sprintf("http://w%d", i), InFlight: l}
	}
	return ws
}

func pickAll(t *testing.T, p Policy, steps []step) []int {
	t.Helper()
	var got []int
	for _, s := range steps {
		i, err := p.Pick(Request{Text: s.text}, workers(s.loads...))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	return got
}

type step struct {
	text  string
	loads []int
}

func TestCacheAwareFollowsSGLangRouter032(t *testing.T) {
	a := strings.Repeat("a", 100)
	b := strings.Repeat("b", 100)
	tests := []struct {
		name  string
		opts  Options
		steps []step
		want  []int
	}{
		{"a miss goes to the least-loaded worker, the first on a tie",
			Options{}, []step{{a, []int{0, 0, 0}}, {b, []int{3, 1, 2}}}, []int{0, 1}},
		{"a prefix match above the threshold sticks to the worker that has it, whatever its load",
			Options{}, []step{{a, []int{0, 5, 5}}, {a + "xyz", []int{9, 0, 0}}}, []int{0, 0}},
		{"a match at or below the threshold is a miss",
			Options{CacheThreshold: 0.5}, []step{{"aaaa", []int{0, 1}}, {"aaaabbbb", []int{1, 0}}, {"aaaabbbbb", []int{0, 1}}},
			[]int{0, 1, 1}},
		{"a partial edge match counts the shared characters",
			Options{CacheThreshold: 0.5}, []step{{"abcdefgh", []int{0, 1}}, {"abcdeXYZ", []int{1, 0}}}, []int{0, 0}},
		{"imbalance needs both the absolute and the relative gap, strictly",
			Options{BalanceAbsThreshold: 2, BalanceRelThreshold: 1.5},
			[]step{{a, []int{0, 0}}, {a, []int{2, 0}}, {a, []int{3, 0}}, {a, []int{4, 3}}, {a, []int{9, 6}}},
			[]int{0, 0, 1, 0, 0}},
		{"a prefix shared after an imbalance still goes to the worker whose request created its node",
			Options{BalanceAbsThreshold: 1, BalanceRelThreshold: 1.5},
			[]step{{a, []int{0, 0, 0}}, {a, []int{5, 0, 1}}, {a + "b", []int{0, 0, 0}}, {a + "bc", []int{0, 0, 0}}}, []int{0, 1, 0, 0}},
		{"a leaf created by the worker that took over goes to that worker",
			Options{BalanceAbsThreshold: 1, BalanceRelThreshold: 1.5},
			[]step{{a, []int{0, 0}}, {a + "x", []int{5, 0}}, {a + "xy", []int{0, 0}}}, []int{0, 1, 1}},
		{"multi-byte characters are matched as characters",
			Options{CacheThreshold: 0.5}, []step{{"日本語テキスト", []int{0, 0}}, {"日本語テスト", []int{1, 0}}, {"日本x", []int{0, 1}}},
			[]int{0, 0, 0}},
		{"empty text is a miss",
			Options{}, []step{{"", []int{1, 0}}, {"", []int{0, 1}}}, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewCacheAware(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, pickAll(t, p, tt.steps)); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCacheAwareReroutesWhenTheHolderIsGone(t *testing.T) {
	p, err := NewCacheAware(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := workers(0, 0, 0)
	if i, _ := p.Pick(Request{Text: "hello world"}, ws[1:]); i != 0 {
		t.Fatalf("first pick = %d, want 0", i)
	}
	// w1 holds the prefix but is no longer listed: the first worker gets it.
	i, _ := p.Pick(Request{Text: "hello world"}, []Worker{ws[2], ws[0]})
	if i != 0 {
		t.Errorf("pick = %d, want 0 (first listed) when the prefix holder is gone", i)
	}
	if c := p.TreeChars()["http://w1"]; c != 0 {
		t.Errorf("the departed worker still holds %d characters", c)
	}
}

func TestCacheAwareEvictsLeastRecentlyUsedBeyondMaxTreeSize(t *testing.T) {
	p, err := NewCacheAware(Options{MaxTreeSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	one := workers(0)
	for _, s := range []string{"aaaaaaaa", "bbbbbbbb", "cccccccc"} {
		if _, err := p.Pick(Request{Text: s}, one); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.TreeChars()["http://w0"]; got != 24 {
		t.Fatalf("before eviction the worker holds %d chars, want 24 (no eviction on insert)", got)
	}
	p.Evict()
	if got := p.TreeChars()["http://w0"]; got != 8 {
		t.Errorf("after eviction the worker holds %d chars, want 8 (only the newest text)", got)
	}
	matched, _ := p.tree.match("cccccccc")
	if matched != 8 {
		t.Errorf("the newest text matched %d chars after eviction, want 8", matched)
	}
	if matched, _ := p.tree.match("aaaaaaaa"); matched != 0 {
		t.Errorf("the oldest text still matches %d chars after eviction", matched)
	}
}

func TestTreeSplitsKeepTenantCharCounts(t *testing.T) {
	tr := newTree()
	tr.addTenant(0)
	tr.addTenant(1)
	tr.insert("abcdef", 0)
	tr.insert("abcxyz", 1)
	tr.insert("abcdeg", 1)
	if diff := cmp.Diff([]int{6, 3 + 3 + 3}, tr.chars); diff != "" {
		t.Errorf("chars (-want +got):\n%s", diff)
	}
	m, tn := tr.match("abcxy")
	if m != 5 || tn != 1 {
		t.Errorf("match(abcxy) = %d chars, tenant %d; want 5, 1", m, tn)
	}
	tr.removeTenant(1)
	if m, tn := tr.match("abcdeg"); m != 5 || tn != 0 {
		t.Errorf("after removing tenant 1, match(abcdeg) = %d, %d; want 5, 0", m, tn)
	}
}

func TestSimplePoliciesPickAsDocumented(t *testing.T) {
	ws := workers(3, 1, 1, 4)
	rr := &RoundRobin{}
	var got []int
	for range 6 {
		i, _ := rr.Pick(Request{}, ws)
		got = append(got, i)
	}
	if diff := cmp.Diff([]int{0, 1, 2, 3, 0, 1}, got); diff != "" {
		t.Errorf("round_robin (-want +got):\n%s", diff)
	}
	if i, _ := (ShortestQueue{}).Pick(Request{}, ws); i != 1 {
		t.Errorf("shortest_queue = %d, want 1 (least in flight, first on a tie)", i)
	}
	// Same seed, same sequence; every worker is reachable.
	r1, r2 := NewRandom(7), NewRandom(7)
	seen := map[int]bool{}
	for range 200 {
		a, _ := r1.Pick(Request{}, ws)
		b, _ := r2.Pick(Request{}, ws)
		if a != b {
			t.Fatal("random with the same seed diverged")
		}
		seen[a] = true
	}
	if len(seen) != len(ws) {
		t.Errorf("random reached %d of %d workers in 200 picks", len(seen), len(ws))
	}
}

func TestPowerOfTwoPicksTheLessLoadedOfTwoSamples(t *testing.T) {
	// With two workers both are always sampled, so the lighter always wins.
	tests := []struct {
		name string
		ws   []Worker
		want int
	}{
		{"in-flight count when not scraped", workers(5, 2), 1},
		{"KV tokens in use when both are scraped", []Worker{
			{URL: "a", InFlight: 0, Scraped: true, UsedTokens: 900},
			{URL: "b", InFlight: 9, Scraped: true, UsedTokens: 100}}, 1},
		{"/get_load's num_tokens: KV in use plus tokens waiting", []Worker{
			{URL: "a", Scraped: true, UsedTokens: 100, WaitingTokens: 900},
			{URL: "b", Scraped: true, UsedTokens: 500}}, 1},
		{"in-flight count when only one is scraped", []Worker{
			{URL: "a", InFlight: 0, Scraped: true, UsedTokens: 900},
			{URL: "b", InFlight: 9}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPowerOfTwo(1)
			for range 20 {
				if i, _ := p.Pick(Request{}, tt.ws); i != tt.want {
					t.Fatalf("pick = %d, want %d", i, tt.want)
				}
			}
		})
	}
}

func TestRegistryRejectsBadNamesAndUnknownPolicies(t *testing.T) {
	if err := Register("cache_aware", func(Options) (Policy, error) { return ShortestQueue{}, nil }); err == nil {
		t.Error("registering over a built-in succeeded")
	}
	if err := Register("has space", func(Options) (Policy, error) { return ShortestQueue{}, nil }); err == nil {
		t.Error("registering a name with a space succeeded")
	}
	_, err := New("no_such_policy", Options{})
	if err == nil || !strings.Contains(err.Error(), "round_robin") {
		t.Errorf("New(unknown) = %v, want an error listing known policies", err)
	}
	if _, err := New("cache_aware", Options{CacheThreshold: 2}); err == nil || !strings.Contains(err.Error(), "CacheThreshold") {
		t.Errorf("New(cache_aware, threshold 2) = %v, want an error naming CacheThreshold", err)
	}
	for _, n := range []string{"round_robin", "random", "shortest_queue", "power_of_two", "cache_aware"} {
		if _, err := New(n, Options{}); err != nil {
			t.Errorf("New(%q): %v", n, err)
		}
	}
}

func TestRoutingTextJoinsIDsWithSpaces(t *testing.T) {
	if got := RoutingText("", []int{12, 3, 456}); got != "12 3 456" {
		t.Errorf("RoutingText = %q", got)
	}
	if got := RoutingText("hi", []int{1}); got != "hi" {
		t.Errorf("RoutingText prefers text; got %q", got)
	}
}

// BenchmarkCacheAwarePick measures one decision over 64 workers with 100k
// cached prefixes in the tree: the match, the load scan and the insert.
func BenchmarkCacheAwarePick(b *testing.B) {
	const nWorkers, nPrefixes = 64, 100_000
	p, err := NewCacheAware(Options{})
	if err != nil {
		b.Fatal(err)
	}
	ws := workers(make([]int, nWorkers)...)
	rng := rand.New(rand.NewPCG(1, 2))
	// 1000 system prompts of 200 characters, each followed by 100 user
	// texts of 100 characters: 100k distinct routed prefixes.
	sys := make([]string, 1000)
	for i := range sys {
		sys[i] = randText(rng, 200)
	}
	texts := make([]string, nPrefixes)
	for i := range texts {
		texts[i] = sys[i%len(sys)] + randText(rng, 100)
	}
	for i, s := range texts {
		ws[i%nWorkers].InFlight = rng.IntN(8)
		if _, err := p.Pick(Request{Text: s}, ws); err != nil {
			b.Fatal(err)
		}
	}
	queries := make([]string, 4096)
	for i := range queries {
		queries[i] = sys[rng.IntN(len(sys))] + randText(rng, 100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Pick(Request{Text: queries[i%len(queries)]}, ws); err != nil {
			b.Fatal(err)
		}
	}
}

func randText(rng *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz "
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

func TestSharedPrefixEndsOnACharacterBoundary(t *testing.T) {
	long := strings.Repeat("x", 70)
	tests := []struct {
		a, b string
		want int
	}{
		{"abc", "abd", 2},
		{"abc", "ab", 2},
		{"", "abc", 0},
		{long + "a", long + "b", 70},
		{long, long, 70},
		// "é" is c3 a9 and "ê" is c3 aa: they share a byte, not a character.
		{"caf\u00e9", "caf\u00ea", 3},
		{"日本語", "日本人", len("日本")},
	}
	for _, tt := range tests {
		if got := sharedPrefix(tt.a, tt.b); got != tt.want {
			t.Errorf("sharedPrefix(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
