package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/testenv"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// envRouterLog, when set, shows the router's log after every real-router
// test (it is shown after a failure anyway).
const envRouterLog = "SGLTEST_SHOW_ROUTER_LOG"

// realRouter starts the real router pkg (testenv.SGLangRouter or
// testenv.SMG) with cfg's policy and flags in front of n fresh simulators.
func realRouter(t *testing.T, pkg string, n int, cfg launcher.RouterConfig) (*launcher.Router, []string) {
	t.Helper()
	py := testenv.RouterPython(t, pkg)
	l, workers := startSimulators(t, n)
	cfg.Name, cfg.Python, cfg.Workers = "router", py, workers
	if pkg == testenv.SMG {
		cfg.Module = launcher.RouterModuleSMG
	}
	rt, err := l.StartRouter(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop returns only once the router's whole process group is gone.
		if err := rt.Stop(); err != nil {
			t.Errorf("stopping the router: %v", err)
		}
		if t.Failed() || os.Getenv(envRouterLog) != "" {
			if b, err := os.ReadFile(rt.LogPath()); err == nil {
				t.Logf("router log %s:\n%s", rt.LogPath(), b)
			}
		}
	})
	return rt, workers
}

// heldRequest is one request of a crafted sequence.
type heldRequest struct {
	text       string
	ids        []int
	routingKey string
}

func (r heldRequest) body() string {
	input := fmt.Sprintf(`"text":%q`, r.text)
	if r.ids != nil {
		parts := make([]string, len(r.ids))
		for i, id := range r.ids {
			parts[i] = strconv.Itoa(id)
		}
		input = `"input_ids":[` + strings.Join(parts, ",") + `]`
	}
	// Far more tokens than the sequence takes to send: every request stays
	// in flight until the test ends.
	return `{` + input + `,"sampling_params":{"max_new_tokens":4000,"temperature":0,"ignore_eos":true},"stream":true}`
}

func (r heldRequest) request() router.Request {
	return router.Request{Text: router.RoutingText(r.text, r.ids), InputIDs: r.ids, RoutingKey: r.routingKey}
}

// sendHeld sends reqs through rt one at a time, each held in flight until
// the sequence ends, and returns the worker that took each, read from the
// router's own in-flight counts (GET /workers) and confirmed by the
// workers' running plus queued requests. The router's load of a worker is
// then exactly the number of requests it was sent.
func sendHeld(t *testing.T, rt *launcher.Router, workers []string, reqs []heldRequest) []string {
	t.Helper()
	return sendHeldSeen(t, rt, workers, reqs, func(total int, loads map[string]int, sent <-chan error) string {
		return waitNewLoad(t, rt, loads, total, sent)
	})
}

// sendHeldSeenByWorkers is sendHeld for a router that keeps no in-flight
// count for the policy (sglang-router 0.3.2 counts only under cache_aware
// and manual): the worker that took each request is the one whose running
// plus queued requests grew.
func sendHeldSeenByWorkers(t *testing.T, rt *launcher.Router, workers []string, reqs []heldRequest) []string {
	t.Helper()
	return sendHeldSeen(t, rt, workers, reqs, func(total int, loads map[string]int, sent <-chan error) string {
		return waitWorkerGrew(t, workers, loads, total, sent)
	})
}

func sendHeldSeen(t *testing.T, rt *launcher.Router, workers []string, reqs []heldRequest,
	seen func(total int, loads map[string]int, sent <-chan error) string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	sent := make(chan error, len(reqs))
	loads := map[string]int{}
	var routed []string
	for i, r := range reqs {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rt.URL()+"/generate", strings.NewReader(r.body()))
			req.Header.Set("Content-Type", "application/json")
			if r.routingKey != "" {
				req.Header.Set("X-SMG-Routing-Key", r.routingKey)
			}
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
		routed = append(routed, seen(i+1, loads, sent))
	}
	checkWorkersHold(t, workers, routed)
	cancel()
	for range reqs {
		if err := <-sent; err != nil && ctx.Err() == nil {
			t.Errorf("sending: %v", err)
		}
	}
	return routed
}

// registryOrder is the router's worker order revealed by the first two
// picks of a sequence that starts with two misses on idle workers (both
// routers break those ties by their registry's order, random per run),
// then the other workers in the given order.
func registryOrder(routed, workers []string) []string {
	order := []string{routed[0], routed[1]}
	for _, w := range workers {
		if !slices.Contains(order, w) {
			order = append(order, w)
		}
	}
	return order
}

// replayer runs a crafted sequence through one of our policies.
type replayer struct {
	// order lists the workers as the policy gets them.
	order []string
	// state, when set, fills each worker's polled state once.
	state func(*router.Worker)
	// follow, when set, holds the real router's choice per request, which
	// tieBreak (given to the policy as Options.TieBreak) takes when it is
	// among the tied workers: the replay then follows the router's random
	// tie-breaks, and only those.
	follow []string
	step   int
	// ties counts the requests whose worker a tie decided.
	ties int
}

// tieBreak chooses the worker the real router chose for the current
// request when it is among tied, else the first tied (and compareRouted
// then shows the disagreement).
func (rp *replayer) tieBreak(tied []int) int {
	rp.ties++
	for _, i := range tied {
		if rp.order[i] == rp.follow[rp.step] {
			return i
		}
	}
	return tied[0]
}

// run sends reqs through policy, each request staying in flight as with
// sendHeld, and returns the worker picked for each.
func (rp *replayer) run(t *testing.T, policy router.Policy, reqs []heldRequest) []string {
	t.Helper()
	ws := make([]router.Worker, len(rp.order))
	for i, u := range rp.order {
		ws[i].URL = u
		if rp.state != nil {
			rp.state(&ws[i])
		}
	}
	var ours []string
	for n, r := range reqs {
		rp.step = n
		i, err := policy.Pick(r.request(), ws)
		if err != nil {
			t.Fatal(err)
		}
		ws[i].InFlight++
		ours = append(ours, ws[i].URL)
	}
	if rp.follow != nil {
		t.Logf("%d of %d choices were ties, resolved as the router did", rp.ties, len(reqs))
	}
	return ours
}

// compareRouted fails unless ours picked the router's worker at every
// step; both are shown as positions in order.
func compareRouted(t *testing.T, order, routed, ours []string) {
	t.Helper()
	if diff := cmp.Diff(idx(order, routed), idx(order, ours)); diff != "" {
		t.Errorf("worker per request, as positions in the router's order (-router +ours):\n%s", diff)
	}
	t.Logf("router picks (in its order): %v", idx(order, routed))
	if n := len(slices.Compact(slices.Sorted(slices.Values(routed)))); n != len(order) {
		t.Errorf("the sequence reached %d of %d workers; it no longer exercises the algorithm", n, len(order))
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

// waitWorkerGrew polls the workers' /metrics until their running plus
// queued requests add up to total, and returns the worker whose count grew
// by one.
func waitWorkerGrew(t *testing.T, workers []string, loads map[string]int, total int, sent <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		now, sum := map[string]int{}, 0
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
			now[w] = s.Running + s.Queued
			sum += now[w]
		}
		if sum == total {
			for _, w := range workers {
				if now[w] == loads[w]+1 {
					loads[w]++
					return w
				}
			}
			t.Fatalf("request %d: workers hold %v, before %v", total, now, loads)
		}
		select {
		case err := <-sent:
			t.Fatalf("a request ended while the sequence was being sent: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("the workers never held request %d", total)
	return ""
}

// checkWorkersHold waits until each worker reports running + queued
// requests equal to the number routed to it.
func checkWorkersHold(t *testing.T, workers, routed []string) {
	t.Helper()
	want := map[string]int{}
	for _, w := range workers {
		want[w] = 0
	}
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
