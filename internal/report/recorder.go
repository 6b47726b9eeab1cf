package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// More file names inside a run directory.
const (
	WarmupFile  = "warmup.jsonl"
	EventsFile  = "events.jsonl"
	ServersFile = "servers.csv"
)

// Recorder is the observer a run streams into (timeline.Observer). It owns
// the run directory: requests.jsonl and warmup.jsonl line by line,
// events.jsonl as events happen, config.json once the servers are up, and
// at Close the summary, the per-server series, routing.json and the
// charts. It keeps what the figures need compactly (metrics.Store), never
// the Records themselves.
type Recorder struct {
	run     *Run
	plan    *plan.Plan
	header  Header
	onError func(error)

	requests, warmup *RecordWriter
	events           *os.File
	store            *metrics.Store

	mu       sync.Mutex
	err      error // the first write error, reported once through onError
	evs      []timeline.Event
	urls     []string // per server, from its Started event
	argv     map[string][]string
	series   [][]ServerPoint
	counters []counters
	config   bool
	closed   bool
}

// ServerPoint is one scrape of one server, as a run's series keeps it.
type ServerPoint struct {
	At                                 time.Duration
	Running, Queued, UsedTokens        int32
	TokenUsage, CacheHitRate, GenTputs float32
}

// NewRecorder opens run's files for p. onError, when set, is called once,
// with the first error writing any of them (a full disk): the caller stops
// the run; what was measured until then is summarised at Close as far as
// space allows.
func NewRecorder(run *Run, p *plan.Plan, h Header, onError func(error)) (*Recorder, error) {
	reqs, err := run.Requests()
	if err != nil {
		return nil, err
	}
	warm, err := CreateRecords(run.Path(WarmupFile))
	if err != nil {
		return nil, errors.Join(err, reqs.Close())
	}
	ev, err := os.OpenFile(run.Path(EventsFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		err = errors.Join(err, reqs.Close(), warm.Close())
		return nil, fmt.Errorf("report: %w", err)
	}
	h.Dir = run.Dir()
	return &Recorder{
		run: run, plan: p, header: h, onError: onError,
		requests: reqs, warmup: warm, events: ev, store: metrics.NewStore(),
		urls: make([]string, len(p.Servers)), argv: map[string][]string{},
		series: make([][]ServerPoint, len(p.Servers)), counters: make([]counters, len(p.Servers)),
	}, nil
}

// fail keeps the first write error and reports it once.
func (r *Recorder) fail(err error) {
	r.mu.Lock()
	first := r.err == nil
	if first {
		r.err = err
	}
	r.mu.Unlock()
	if first && r.onError != nil {
		r.onError(err)
	}
}

// Add implements timeline.Observer.
func (r *Recorder) Add(rec metrics.Record) {
	w := r.requests
	if rec.Warmup {
		w = r.warmup
	}
	if err := w.Write(rec); err != nil {
		r.fail(err)
	}
	r.store.Add(rec)
}

// Event implements timeline.Observer.
func (r *Recorder) Event(e timeline.Event) {
	b, err := json.Marshal(e)
	r.mu.Lock()
	r.evs = append(r.evs, e)
	if e.URL != "" {
		if i, perr := r.plan.Server(e.Target); perr == nil {
			r.urls[i] = e.URL
		}
	}
	if e.Argv != nil {
		if _, seen := r.argv[e.Target]; !seen {
			r.argv[e.Target] = e.Argv
		}
	}
	if err == nil {
		_, err = r.events.Write(append(b, '\n'))
	}
	r.mu.Unlock()
	if err != nil {
		r.fail(fmt.Errorf("report: writing %s: %w", EventsFile, err))
	}
	if e.Kind == timeline.LoadStarted {
		r.writeConfig()
	}
}

// Sample implements timeline.Observer.
func (r *Recorder) Sample(i int, s workerstate.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.series[i] = append(r.series[i], ServerPoint{At: s.At, Running: int32(s.Running), Queued: int32(s.Queued),
		UsedTokens: int32(s.UsedTokens), TokenUsage: float32(s.TokenUsage), CacheHitRate: float32(s.CacheHitRate),
		GenTputs: float32(s.Throughput)})
	r.counters[i].add(s.Counters)
}

// Config is config.json: the plan, and what each server and the router
// actually ran (their first start; restarts are events).
type Config struct {
	*plan.Plan
	Launched []Launched `json:"launched"`
}

// Launched is one process as it was first started.
type Launched struct {
	Name string   `json:"name"`
	URL  string   `json:"url,omitempty"`
	Argv []string `json:"argv"`
}

// writeConfig writes config.json once: when the load starts (every server
// is up) or at Close for a run that never got that far.
func (r *Recorder) writeConfig() {
	r.mu.Lock()
	if r.config {
		r.mu.Unlock()
		return
	}
	r.config = true
	// Secrets (an API key in the arguments or environment) never reach the
	// run directory.
	p := *r.plan
	p.Servers = slices.Clone(p.Servers)
	for i := range p.Servers {
		l := &p.Servers[i].Launch
		l.ExtraArgs, l.Env = launcher.Redact(l.ExtraArgs), launcher.RedactEnv(l.Env)
	}
	c := Config{Plan: &p}
	for i, s := range r.plan.Servers {
		c.Launched = append(c.Launched, Launched{Name: s.Name, URL: r.urls[i], Argv: r.argv[s.Name]})
	}
	if a, ok := r.argv[plan.RouterTarget]; ok {
		c.Launched = append(c.Launched, Launched{Name: plan.RouterTarget, Argv: a})
	}
	r.mu.Unlock()
	if err := r.run.WriteConfig(c); err != nil {
		r.fail(err)
	}
}

// Result is a finished run as the scenario's checks see it.
type Result struct {
	Label string
	Dir   string
	// File is summary.json as written (Bounds empty until the checks add
	// theirs with WriteVerdict).
	File SummaryFile
	// Routing is the per-server picture; nil only when it could not be
	// computed (Err says why).
	Routing *Routing
	// Store holds the run's requests compactly, for figures over windows.
	Store *metrics.Store
	// Series holds every scrape of each server (in plan order).
	Series [][]ServerPoint
	// GPUSamples holds every GPU sample of the measured window.
	GPUSamples []telemetry.GPU
	// Charts are the charts written into the run directory, in the order
	// report.html shows them.
	Charts []ChartFile
}

// ChartFile is one chart of a run directory.
type ChartFile struct {
	File, Title string
}

// Summary is the run's figures.
func (r *Result) Summary() *metrics.Summary { return &r.File.Summary }

// Close ends the run's files and writes its summary (summary.json and
// summary.txt), servers.csv, routing.json and the charts, for whatever was
// measured. It returns the Result, and every error met on the way (a
// failed write among them) joined.
func (r *Recorder) Close(label string, out timeline.Outcome) (*Result, error) {
	r.writeConfig()
	r.mu.Lock()
	r.closed = true
	evs := slices.Clone(r.evs)
	r.mu.Unlock()
	errs := []error{r.requests.Close(), r.warmup.Close(), r.events.Close()}

	sum := r.store.Summary()
	f := SummaryFile{Version: SummaryVersion, Header: r.header, Summary: sum, Events: evs}
	f.Header.Servers = r.serverRefs()
	f.Client = ClientCheck{ScheduleLagP99MS: ms(out.Health.ScheduleLagP99), HandoffP99MS: ms(out.Health.HandoffP99), CPUBusy: out.Health.CPUBusy,
		BoundWaits: out.Health.BoundWaits, BoundWaitMaxMS: ms(out.Health.BoundWaitMax)}
	f.SimulatorSteps = simulatorChecks(out.Steps, f.Header.Servers)
	f.Accounting = account(sum, r.requests.Lines(), r.warmup.Lines(), r.store.Warmup())
	f.Valid, f.Interrupted = true, out.Interrupted
	var why []string
	if !out.Health.Valid {
		why = append(why, out.Health.Reason)
	}
	if out.Stopped != nil {
		f.Stopped = out.Stopped.Error()
	}
	if f.Accounting.Error != "" {
		why = append(why, f.Accounting.Error)
	}
	r.mu.Lock()
	werr := r.err
	r.mu.Unlock()
	if werr != nil {
		why = append(why, "measurements were lost: "+werr.Error())
	}
	if len(why) > 0 {
		f.Valid, f.Invalid = false, joinReasons(why)
	}
	f.GPU = gpuSection(out.GPU, sum.TotalOutputTokens)
	f.Windows, errs = r.windows(evs, errs)
	f.Verdict = f.verdict()
	r.mu.Lock()
	series := r.series
	r.mu.Unlock()
	res := &Result{Label: label, Dir: r.run.Dir(), File: f, Store: r.store, Series: series, GPUSamples: out.GPU.Samples}
	routing, err := r.routing()
	if err == nil {
		routing.Router, routing.RouterNote = out.Router, out.RouterErr
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("routing figures: %w", err))
	} else {
		res.Routing = routing
		f.KVTransfer = kvTransferOf(routing)
		res.File.KVTransfer = f.KVTransfer
		errs = append(errs, writeJSON(r.run.Path(RoutingFile), routing))
	}
	errs = append(errs, r.run.WriteSummary(f), r.writeTables(evs, series, out.GPU.Samples))
	res.Charts, errs = r.writeCharts(res, errs)
	errs = append(errs, WriteHTML(res))
	return res, errors.Join(errs...)
}

// writeCharts draws every chart that applies and returns those written.
func (r *Recorder) writeCharts(res *Result, errs []error) ([]ChartFile, []error) {
	d := ChartData{Store: r.store, Servers: r.plan.Names(), Series: res.Series, Events: res.File.Events, GPU: res.GPUSamples}
	// Records name their server unless a real router stood in between.
	if r.plan.Routing == nil || r.plan.Routing.Via == plan.ViaDispatcher || r.plan.Clock == plan.Virtual {
		d.Targets = map[string]int{}
		for i, s := range res.File.Header.Servers {
			d.Targets[s.Name] = i
			if s.URL != "" {
				d.Targets[s.URL] = i
			}
		}
	}
	charts, err := BuildCharts(d)
	if err != nil {
		return nil, append(errs, fmt.Errorf("report: charts: %w", err))
	}
	paths, err := r.run.WriteCharts(charts)
	if err != nil {
		errs = append(errs, err)
	}
	var out []ChartFile
	for _, c := range charts {
		if slices.Contains(paths, r.run.Path(c.File)) {
			out = append(out, ChartFile{File: c.File, Title: c.Title})
		}
	}
	return out, errs
}

func joinReasons(why []string) string {
	s := why[0]
	for _, w := range why[1:] {
		s += "; " + w
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serverRefs names each server with the URL it answered at.
func (r *Recorder) serverRefs() []ServerRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ServerRef, len(r.plan.Servers))
	for i, s := range r.plan.Servers {
		out[i] = ServerRef{Name: s.Name, URL: r.urls[i], Role: s.Role()}
	}
	return out
}

// account checks that every request is accounted for once and that
// requests.jsonl holds one line per request.
func account(s metrics.Summary, lines, warmLines int64, warm int) Accounting {
	a := Accounting{Sent: s.Requests, Succeeded: s.Succeeded, Failed: s.Failed, Cancelled: s.Cancelled,
		FailedBy: s.Errors, CancelledBy: s.CancelReasons, Lines: lines, Warmup: warm}
	switch {
	case s.Succeeded+s.Failed+s.Cancelled != s.Requests:
		a.Error = fmt.Sprintf("accounting: %d sent but %d succeeded + %d failed + %d cancelled", s.Requests, s.Succeeded, s.Failed, s.Cancelled)
	case lines != int64(s.Requests):
		a.Error = fmt.Sprintf("accounting: %s has %d lines for %d requests sent", RequestsFile, lines, s.Requests)
	case warmLines != int64(warm):
		a.Error = fmt.Sprintf("accounting: %s has %d lines for %d warmup requests", WarmupFile, warmLines, warm)
	}
	return a
}

// routing computes routing.json: in wall-clock time from the servers'
// counters (every scrape, restarts included), in virtual time from the
// records, which name each request's engine.
func (r *Recorder) routing() (*Routing, error) {
	refs := r.serverRefs()
	shares := make([]metrics.WorkerShare, len(refs))
	out := &Routing{Routing: r.plan.Routing}
	if r.plan.Clock == plan.Virtual {
		names := r.plan.Names()
		var err error
		if shares, err = r.store.Shares(names); err != nil {
			return nil, err
		}
		out.Latency = r.store.LatencyByWorker(names)
	} else {
		r.mu.Lock()
		for i, c := range r.counters {
			if c.samples == 0 {
				r.mu.Unlock()
				return nil, fmt.Errorf("%s was never scraped: its /metrics gave no sample", refs[i].Name)
			}
			shares[i] = metrics.WorkerShare{Requests: c.total.Requests, InputTokens: c.total.PromptTokens,
				OutputTokens: c.total.GenerationTokens, CachedTokens: c.total.CachedTokens, Ranks: rankShares(c.total.Ranks),
				KVTransfers: c.total.KVTransfers, KVTransferMS: c.total.KVTransferMS}
		}
		r.mu.Unlock()
		if r.plan.Routing != nil && r.plan.Routing.Via == plan.ViaDispatcher {
			urls := make([]string, len(refs))
			for i, s := range refs {
				urls[i] = s.URL
			}
			out.Latency = r.store.LatencyByWorker(urls)
		}
	}
	for i := range shares {
		shares[i].Worker, shares[i].URL, shares[i].Role = refs[i].Name, refs[i].URL, refs[i].Role
	}
	for i := range out.Latency {
		out.Latency[i].Worker = refs[i].Name
	}
	out.Workers = shares
	out.RequestBalance = metrics.RequestBalance(shares)
	out.CacheHitRate, out.HasCache = metrics.OverallCacheHitRate(shares)
	return out, nil
}

// windows cuts the run at each planned action and at each server coming
// back, and summarises each piece: the figures before, during and after a
// fault. Nil when the timeline is empty.
func (r *Recorder) windows(evs []timeline.Event, errs []error) ([]Window, []error) {
	type cut struct {
		at   time.Duration
		what string
	}
	var cuts []cut
	for _, e := range evs {
		switch e.Kind {
		case timeline.Killed, timeline.Stopped, timeline.Paused, timeline.Resumed, timeline.Restarting,
			timeline.Restored, timeline.Restarted:
			cuts = append(cuts, cut{e.At, e.Target + " " + string(e.Kind)})
		}
	}
	if len(cuts) == 0 {
		return nil, errs
	}
	sum := r.store.Summary()
	end := time.Duration(sum.DurationS * float64(time.Second))
	slices.SortStableFunc(cuts, func(a, b cut) int { return int(a.at - b.at) })
	var out []Window
	from, label := time.Duration(0), "start"
	for _, c := range append(cuts, cut{max(end, cuts[len(cuts)-1].at+1), "end"}) {
		if c.at > from {
			s, err := r.store.Window(from, c.at)
			if err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, windowOf(from, c.at, "from "+label+" to "+c.what, s))
			}
			from = c.at
		}
		label = c.what
	}
	return out, errs
}

func windowOf(from, to time.Duration, label string, s metrics.Summary) Window {
	w := Window{Label: label, FromS: from.Seconds(), ToS: to.Seconds(), Requests: s.Requests, Succeeded: s.Succeeded,
		Failed: s.Failed, Cancelled: s.Cancelled, RequestThroughput: s.RequestThroughput,
		OutputThroughput: s.OutputThroughput, TTFTMS: s.TTFTMS, E2ELatencyMS: s.E2ELatencyMS}
	if s.Requests > 0 {
		rate := float64(s.Failed) / float64(s.Requests)
		w.ErrorRate = &rate
	}
	return w
}
