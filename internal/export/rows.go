package export

import (
	"encoding/json"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// Request is one row of requests.csv and requests.parquet: one measured
// request, as requests.jsonl holds it, its chunks counted rather than
// listed. Times are nanoseconds from the run's start instant on the
// monotonic clock.
type Request struct {
	// Index is the request's position in the workload (0-based); RID the
	// rid sent to the server; Target the URL (or, in virtual time, the
	// engine) it was sent to.
	Index  int64  `parquet:"index"`
	RID    string `parquet:"rid"`
	Target string `parquet:"target"`
	// Succeeded is HTTP 200, a complete stream and no error inside it.
	// Status is the HTTP status (0: no response head), Error why the
	// request failed (empty when it succeeded), Cancelled set when the run
	// gave up on it as it stopped early.
	Succeeded bool   `parquet:"succeeded"`
	Status    int64  `parquet:"status"`
	Error     string `parquet:"error"`
	Cancelled bool   `parquet:"cancelled"`
	// Token counts: the prompt sent, max_new_tokens sent, the server's
	// completion tokens (OutputTokensEstimated: the requested count, the
	// server reported none) and its prefix-cache hits.
	InputTokens           int64 `parquet:"input_tokens"`
	RequestedOutputTokens int64 `parquet:"requested_output_tokens"`
	OutputTokens          int64 `parquet:"output_tokens"`
	OutputTokensEstimated bool  `parquet:"output_tokens_estimated"`
	CachedTokens          int64 `parquet:"cached_tokens"`
	// The instants: planned arrival, actual arrival, the dispatcher's
	// choice (0: no dispatcher), sent, first token (0: none) and done.
	ScheduledNS  int64 `parquet:"scheduled_ns"`
	ArrivalNS    int64 `parquet:"arrival_ns"`
	RoutedNS     int64 `parquet:"routed_ns"`
	SentNS       int64 `parquet:"sent_ns"`
	FirstTokenNS int64 `parquet:"first_token_ns"`
	DoneNS       int64 `parquet:"done_ns"`
	// Chunks is the number of streamed chunks that carried tokens.
	Chunks int64 `parquet:"chunks"`
}

// RequestOf is r as a row.
func RequestOf(r metrics.Record) Request {
	return Request{Index: int64(r.Index), RID: r.RID, Target: r.Target, Succeeded: r.OK(), Status: int64(r.Status),
		Error: r.Error, Cancelled: r.Cancelled, InputTokens: int64(r.InputTokens),
		RequestedOutputTokens: int64(r.RequestedOutputTokens), OutputTokens: int64(r.OutputTokens),
		OutputTokensEstimated: r.OutputTokensEstimated, CachedTokens: int64(r.CachedTokens),
		ScheduledNS: int64(r.Scheduled), ArrivalNS: int64(r.Arrival), RoutedNS: int64(r.Routed), SentNS: int64(r.Sent),
		FirstTokenNS: int64(r.FirstToken), DoneNS: int64(r.Done), Chunks: int64(len(r.Chunks))}
}

// ServerSample is one row of servers.csv and servers.parquet: one scrape
// of one server's /metrics during the run (every 250 ms in wall-clock
// runs; each engine step's sample in virtual time).
type ServerSample struct {
	// AtS is when the scrape was read, in seconds from the run's start.
	AtS    float64 `parquet:"at_s"`
	Server string  `parquet:"server"`
	// Running and Queued are sglang:num_running_reqs and
	// sglang:num_queue_reqs (the server-side queue); UsedTokens
	// sglang:num_used_tokens (KV cache tokens in use).
	Running    int64 `parquet:"running"`
	Queued     int64 `parquet:"queued"`
	UsedTokens int64 `parquet:"used_tokens"`
	// TokenUsage is sglang:token_usage (the fraction of the KV cache in
	// use, 0 to 1), CacheHitRate sglang:cache_hit_rate (0 to 1) and
	// GenThroughput sglang:gen_throughput (output tokens per second).
	TokenUsage    float64 `parquet:"token_usage"`
	CacheHitRate  float64 `parquet:"cache_hit_rate"`
	GenThroughput float64 `parquet:"gen_throughput"`
	// Role is the server's PD role (prefill or decode); empty for a
	// regular server.
	Role string `parquet:"role"`
}

// GPUSample is one row of gpu.csv and gpu.parquet: one sample of one GPU
// (real, from NVML, or the simulator's model: see Simulated). A figure
// that could not be read is null (an empty CSV cell), never 0.
type GPUSample struct {
	// AtS is when the sample was taken, in seconds from the run's start.
	AtS float64 `parquet:"at_s"`
	// Index is the NVML device index or the simulated server's index.
	Index int64  `parquet:"index"`
	UUID  string `parquet:"uuid"`
	Name  string `parquet:"name"`
	// Simulated is true for the simulator's figures, false for NVML's.
	Simulated bool `parquet:"simulated"`
	// Utilisations and power are over the interval ending at AtS (per
	// cent, watts); the rest are values at AtS (bytes, millijoules since
	// the driver or simulated server started, MHz, degrees Celsius).
	UtilizationPct       *float64 `parquet:"utilization_pct"`
	MemoryUtilizationPct *float64 `parquet:"memory_utilization_pct"`
	MemoryUsedBytes      *float64 `parquet:"memory_used_bytes"`
	MemoryTotalBytes     *float64 `parquet:"memory_total_bytes"`
	PowerWatts           *float64 `parquet:"power_watts"`
	EnergyMJ             *float64 `parquet:"energy_mj"`
	SMClockMHz           *float64 `parquet:"sm_clock_mhz"`
	TemperatureC         *float64 `parquet:"temperature_c"`
	ProcessMemoryBytes   *float64 `parquet:"process_memory_bytes"`
	SMActivityPct        *float64 `parquet:"sm_activity_pct"`
	// ThrottleReasons names why clocks were held down, separated by "|":
	// "none" when nothing held them, empty when they could not be read.
	ThrottleReasons string `parquet:"throttle_reasons"`
}

// GPUSampleOf is g as a row.
func GPUSampleOf(g telemetry.GPU) GPUSample {
	fig := func(f telemetry.Figure) *float64 {
		if !f.OK() {
			return nil
		}
		v := f.Value
		return &v
	}
	row := GPUSample{AtS: g.At.Seconds(), Index: int64(g.Index), UUID: g.UUID, Name: g.Name, Simulated: g.Simulated,
		UtilizationPct: fig(g.UtilizationPct), MemoryUtilizationPct: fig(g.MemoryUtilizationPct),
		MemoryUsedBytes: fig(g.MemoryUsedBytes), MemoryTotalBytes: fig(g.MemoryTotalBytes), PowerWatts: fig(g.PowerWatts),
		EnergyMJ: fig(g.EnergyMillijoules), SMClockMHz: fig(g.SMClockMHz), TemperatureC: fig(g.TemperatureC),
		ProcessMemoryBytes: fig(g.ProcessMemoryBytes), SMActivityPct: fig(g.SMActivityPct)}
	switch r := g.ThrottleReasons; {
	case !r.OK():
	case len(r.Value) == 0:
		row.ThrottleReasons = "none"
	default:
		row.ThrottleReasons = strings.Join(r.Value, "|")
	}
	return row
}

// Event is one row of events.csv and events.parquet: one event of the
// run's timeline, as events.jsonl holds it.
type Event struct {
	// AtS is when it happened, in seconds from the run's start (negative
	// for servers that came up before the load started).
	AtS float64 `parquet:"at_s"`
	// Kind is the event (started, killed, restored, ...); Target the
	// server or router it concerns, empty for the run's own events.
	Kind   string `parquet:"kind"`
	Target string `parquet:"target"`
	// Planned is set for what the scenario's timeline asked for.
	Planned bool `parquet:"planned"`
	// AwayS, for restored and restarted, is how long the target did not
	// serve, in seconds; 0 otherwise.
	AwayS float64 `parquet:"away_s"`
	// URL and Argv (a JSON array of strings, empty when none) are where
	// a started target answers and what it runs; Detail says more.
	URL    string `parquet:"url"`
	Argv   string `parquet:"argv"`
	Detail string `parquet:"detail"`
}

// EventOf is e as a row.
func EventOf(e timeline.Event) Event {
	row := Event{AtS: e.At.Seconds(), Kind: string(e.Kind), Target: e.Target, Planned: e.Planned,
		AwayS: e.Away.Seconds(), URL: e.URL, Detail: e.Detail}
	if e.Argv != nil {
		b, _ := json.Marshal(e.Argv) // a []string always encodes
		row.Argv = string(b)
	}
	return row
}
