package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/testenv"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// The router's cache_aware knobs for the comparison: thresholds low enough
// that a dozen requests in flight cross them.
const (
	cmpCacheThreshold = 0.5
	cmpBalanceAbs     = 2
	cmpBalanceRel     = 1.5
)

// TestCacheAwareChoosesAsSGLangRouter032 sends one crafted sequence through
// the real sglang-router 0.3.2 in front of three simulators and through our
// cache_aware policy, and requires the same worker at every step.
//
// Every request stays in flight until the sequence ends (it asks for far
// more tokens than the sequence takes to send), so the router's load of a
// worker is exactly the number of requests it was sent, which our policy is
// given too. The router breaks ties by the order of its worker registry,
// which is random per run (s5.2); the first two requests (both ties) reveal
// that order, and our policy gets the workers in it. From then on the
// algorithm decides deterministically: the sequence has misses with a
// unique least-loaded worker, prefix hits above the threshold, a partial
// match at or below it, and imbalance switches.
func TestCacheAwareChoosesAsSGLangRouter032(t *testing.T) {
	py := testenv.RouterPython(t, testenv.SGLangRouter)
	l, workers := startSimulators(t, 3)
	rt, err := l.StartRouter(t.Context(), launcher.RouterConfig{
		Name: "router", Python: py, Workers: workers, Policy: "cache_aware",
		CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
	})
	if err != nil {
		t.Fatal(err)
	}

	a, b, c := strings.Repeat("alpha ", 10), strings.Repeat("bravo ", 10), strings.Repeat("charlie ", 10)
	texts := []string{
		a, b, c, // misses: two ties (reveal the order), then the unique idle worker
		a + "one", b + "one", // hits
		strings.Repeat("delta ", 10),                   // miss, unique least loaded
		a + "two", a + "three", a + "four", a + "five", // hits until the imbalance switch
		a + "five and more", c + "one", // hits, one on the worker that took over
		a[:12] + strings.Repeat("echo ", 10), // partial match below the threshold: a miss
		b + "two", c + "two", a + "six",
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	sent := make(chan error, len(texts))
	loads := map[string]int{}
	var routed []string
	for i, text := range texts {
		body := fmt.Sprintf(`{"text":%q,"sampling_params":{"max_new_tokens":4000,"temperature":0,"ignore_eos":true},"stream":true}`, text)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rt.URL()+"/generate", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("request %d: HTTP %d", i, resp.StatusCode)
				} else {
					// Hold the stream open; reading it is not needed.
					<-ctx.Done()
				}
				resp.Body.Close()
			}
			sent <- err
		}()
		w := waitNewLoad(t, rt, loads, i+1, sent)
		routed = append(routed, w)
	}

	// The workers themselves confirm where the router sent each request:
	// their running plus queued requests match.
	checkWorkersHold(t, workers, routed)

	order := []string{routed[0], routed[1]}
	for _, w := range workers {
		if !slices.Contains(order, w) {
			order = append(order, w)
		}
	}
	policy, err := router.NewCacheAware(router.Options{
		CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
	})
	if err != nil {
		t.Fatal(err)
	}
	ws := make([]router.Worker, len(order))
	for i, u := range order {
		ws[i].URL = u
	}
	var ours []string
	for _, text := range texts {
		i, err := policy.Pick(router.Request{Text: text}, ws)
		if err != nil {
			t.Fatal(err)
		}
		ws[i].InFlight++
		ours = append(ours, ws[i].URL)
	}
	if diff := cmp.Diff(idx(order, routed), idx(order, ours)); diff != "" {
		t.Errorf("worker per request, as positions in the router's order (-router +ours):\n%s", diff)
	}
	t.Logf("router picks (in its order): %v", idx(order, routed))
	if n := len(slices.Compact(slices.Sorted(slices.Values(routed)))); n != len(workers) {
		t.Errorf("the sequence reached %d of %d workers; it no longer exercises the algorithm", n, len(workers))
	}
	cancel()
	for range texts {
		if err := <-sent; err != nil && ctx.Err() == nil {
			t.Errorf("sending: %v", err)
		}
	}
	// Stop returns only once the router's whole process group is gone.
	if err := rt.Stop(); err != nil {
		t.Errorf("stopping the router: %v", err)
	}
}

func idx(order, urls []string) []int {
	out := make([]int, len(urls))
	for i, u := range urls {
		out[i] = slices.Index(order, u)
	}
	return out
}

// waitNewLoad polls the router's /workers until its in-flight loads add up
// to total, and returns the worker whose load grew by one.
func waitNewLoad(t *testing.T, rt *launcher.Router, loads map[string]int, total int, sent <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []launcher.RouterWorker
	for time.Now().Before(deadline) {
		ws, err := rt.Workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		last = ws
		sum := 0
		for _, w := range ws {
			sum += w.Load
		}
		if sum > total {
			t.Fatalf("router loads %+v add up to %d, more than the %d requests sent", ws, sum, total)
		}
		if sum == total {
			var grown []string
			for _, w := range ws {
				if w.Load == loads[w.URL]+1 {
					grown = append(grown, w.URL)
				} else if w.Load != loads[w.URL] {
					t.Fatalf("request %d: router load of %s went from %d to %d (a request finished early?)", total, w.URL, loads[w.URL], w.Load)
				}
			}
			if len(grown) != 1 {
				t.Fatalf("request %d: %d workers grew: %+v", total, len(grown), ws)
			}
			loads[grown[0]]++
			return grown[0]
		}
		select {
		case err := <-sent:
			t.Fatalf("a request ended while the sequence was being sent: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("router never counted request %d in flight; last /workers: %+v", total, last)
	return ""
}

// checkWorkersHold waits until each worker reports running + queued
// requests equal to the number routed to it.
func checkWorkersHold(t *testing.T, workers, routed []string) {
	t.Helper()
	want := map[string]int{}
	for _, w := range routed {
		want[w]++
	}
	deadline := time.Now().Add(10 * time.Second)
	got := map[string]int{}
	for time.Now().Before(deadline) {
		for _, w := range workers {
			resp, err := http.Get(w + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			s, err := workerstate.Parse(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got[w] = s.Running + s.Queued
		}
		if cmp.Equal(want, got) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("workers hold %v requests, the router's loads say %v", got, want)
}
