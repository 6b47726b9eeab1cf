package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// Dispatcher sends each request to the worker its Policy picks. Only
// SGLang's native /generate is sent, streamed, with temperature 0 and
// ignore_eos so output lengths are exact (the load generator's default).
type Dispatcher struct {
	policy  router.Policy
	workers []string
	http    *http.Client
	log     *slog.Logger

	// State, when set, fills each worker's scraped state before every
	// decision.
	State *workerstate.Scraper
	// RIDPrefix is prepended to the request index to form its rid.
	RIDPrefix string

	mu       sync.Mutex
	inFlight []int
	snapshot []router.Worker
}

// New returns a Dispatcher over the given worker base URLs. A nil client
// means load.NewHTTPClient(); a nil logger discards.
func New(policy router.Policy, workers []string, client *http.Client, logger *slog.Logger) (*Dispatcher, error) {
	if policy == nil {
		return nil, errors.New("dispatch: nil policy")
	}
	if len(workers) == 0 {
		return nil, errors.New("dispatch: no workers")
	}
	seen := map[string]bool{}
	for i, w := range workers {
		if !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
			return nil, fmt.Errorf("dispatch: worker %d: %q: want a base URL such as http://127.0.0.1:30000", i, w)
		}
		if seen[w] {
			return nil, fmt.Errorf("dispatch: worker %d: %q is listed twice", i, w)
		}
		seen[w] = true
	}
	if client == nil {
		client = load.NewHTTPClient()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		policy: policy, workers: append([]string(nil), workers...), http: client, log: logger,
		inFlight: make([]int, len(workers)), snapshot: make([]router.Worker, len(workers)),
	}
	for i, u := range d.workers {
		d.snapshot[i].URL = u
	}
	return d, nil
}

// Result is one request as dispatched: its Record (Target is the worker
// chosen) plus the routing decision.
type Result struct {
	metrics.Record
	// Worker is the index of the worker chosen.
	Worker int `json:"worker"`
	// Routed is when the policy returned its decision, on the run's clock
	// (between Arrival and Sent).
	Routed time.Duration `json:"routed_ns"`
	// Decision is how long the decision took: the worker snapshot plus
	// Pick.
	Decision time.Duration `json:"decision_ns"`
}

// prepared is a request encoded before the run, so that between arrival
// and send only the decision happens.
type prepared struct {
	text  string
	body  []byte
	input int
}

// Pick makes one routing decision: it snapshots every worker's state
// (in-flight count, scraped state), asks the policy and counts the request
// in flight on the chosen worker. Done must be called when it finishes.
func (d *Dispatcher) Pick(req router.Request) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.snapshot {
		d.snapshot[i] = router.Worker{URL: d.workers[i], InFlight: d.inFlight[i]}
	}
	if d.State != nil {
		d.State.Fill(d.snapshot)
	}
	i, err := d.policy.Pick(req, d.snapshot)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= len(d.workers) {
		return 0, fmt.Errorf("policy picked worker %d of %d", i, len(d.workers))
	}
	d.inFlight[i]++
	return i, nil
}

// Done ends a request counted in flight on worker i by Pick.
func (d *Dispatcher) Done(i int) {
	d.mu.Lock()
	d.inFlight[i]--
	d.mu.Unlock()
}

// Run sends reqs[i] at arrivals[i] after the start instant (open loop),
// each to the worker the policy picks, and returns one Result per request
// in request order once all have finished. A request that fails is
// recorded with its error; Run itself fails only on bad input, a policy
// error (after every sent request has finished) or ctx ending.
func (d *Dispatcher) Run(ctx context.Context, reqs []load.Request, arrivals []time.Duration) ([]Result, error) {
	if len(reqs) != len(arrivals) {
		return nil, fmt.Errorf("dispatch: %d requests but %d arrival offsets", len(reqs), len(arrivals))
	}
	preps := make([]prepared, len(reqs))
	for i, r := range reqs {
		p, err := d.prepare(r)
		if err != nil {
			return nil, err
		}
		preps[i] = p
	}
	start := time.Now()
	now := func() time.Duration { return time.Since(start) }
	results := make([]Result, len(reqs))
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range reqs {
		if wait := arrivals[i] - now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-timer.C:
			}
		}
		res := &results[i]
		res.Index, res.RID = reqs[i].Index, d.RIDPrefix+strconv.Itoa(reqs[i].Index)
		res.InputTokens, res.RequestedOutputTokens = preps[i].input, reqs[i].OutputTokens
		res.Scheduled = arrivals[i]
		res.Arrival = now()
		w, err := d.Pick(router.Request{Text: preps[i].text, InputIDs: reqs[i].InputIDs})
		res.Routed = now()
		res.Decision = res.Routed - res.Arrival
		if err != nil {
			wg.Wait()
			return nil, fmt.Errorf("dispatch: request %d: %w", reqs[i].Index, err)
		}
		res.Worker, res.Target = w, d.workers[w]
		wg.Go(func() {
			defer d.Done(w)
			d.send(ctx, preps[i].body, now, &res.Record)
		})
	}
	wg.Wait()
	return results, ctx.Err()
}

func (d *Dispatcher) prepare(r load.Request) (prepared, error) {
	if len(r.InputIDs) == 0 && r.Prompt == "" {
		return prepared{}, fmt.Errorf("dispatch: request %d: /generate needs input_ids or a text prompt", r.Index)
	}
	if r.OutputTokens <= 0 {
		return prepared{}, fmt.Errorf("dispatch: request %d: OutputTokens %d: want a positive count", r.Index, r.OutputTokens)
	}
	maxNew, temp := r.OutputTokens, 0.0
	g := api.GenerateRequest{
		SamplingParams: &api.SamplingParams{MaxNewTokens: &maxNew, Temperature: &temp, IgnoreEOS: true},
		Stream:         true, RID: d.RIDPrefix + strconv.Itoa(r.Index),
	}
	input := r.InputTokens
	if len(r.InputIDs) > 0 {
		g.InputIDs = r.InputIDs
		input = len(r.InputIDs)
	} else {
		g.Text = r.Prompt
	}
	body, err := json.Marshal(g)
	if err != nil {
		return prepared{}, fmt.Errorf("dispatch: request %d: %w", r.Index, err)
	}
	return prepared{text: router.RoutingText(r.Prompt, r.InputIDs), body: body, input: input}, nil
}

// send posts body to rec.Target's /generate and parses the stream into rec.
func (d *Dispatcher) send(ctx context.Context, body []byte, now func() time.Duration, rec *metrics.Record) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.Target+"/generate", bytes.NewReader(body))
	if err != nil {
		rec.Sent = now()
		rec.Done, rec.Error = rec.Sent, "building request: "+err.Error()
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	rec.Sent = now()
	resp, err := d.http.Do(hreq)
	if err != nil {
		rec.Done, rec.Error = now(), "transport: "+err.Error()
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		rec.Done = now()
		rec.Error = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		return
	}
	if err := load.ParseStream(resp.Body, now, rec); err != nil {
		rec.Error = err.Error()
	}
}
