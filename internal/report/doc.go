// Package report writes a run directory: the files one sgltest run leaves
// behind for people and for CI.
//
// Reading guide: recorder.go (Recorder, the timeline.Observer a run
// streams into, and Close, which writes everything below), run.go (the
// directory, config.json, summary.json and its Go type SummaryFile),
// records.go (requests.jsonl, written line by line while the run goes on),
// text.go (Header and the "Node Test Results" text), chartdata.go (every
// chart as data: BuildCharts computes what each panel plots, which is what
// the tests check), charts.go (drawing a Chart with gonum plot),
// exports.go (the CSV and Parquet tables, package export's rows), html.go
// and report.html.tmpl (report.html), index.go (the suite's index.html).
// The figures themselves are defined in package metrics; this package
// only stores and shows them.
//
// # A run directory
//
// Create makes <root>/<name> and refuses an existing one. A Recorder
// then writes requests.jsonl, warmup.jsonl and events.jsonl as the run
// goes, config.json once every server is up, and at Close summary.json,
// summary.txt, routing.json, the tables (requests, servers, gpu, events:
// each as .csv and .parquet), the charts that apply (see the Chart file
// constants) and report.html, then rewrites <root>/index.html.
// WriteVerdict, once the scenario's checks ran, rewrites summary.json,
// summary.txt, report.html and the index with the bounds.
// reports/README.md lists every file and every table column.
//
// requests.jsonl is written as requests finish, each line handed to the
// operating system in one write, so a killed run leaves all finished lines
// readable; ReadRecords reads them back and names the file and line of a
// line cut short. The other files are written whole or not at all (a
// temporary file renamed into place).
//
// Charts cover successful measured requests (warmup excluded), as the
// summary does; the throughput chart also shows failures per second when
// there are any. A panel with nothing to show is still drawn, with "no
// data" in its title and in its middle.
//
// # summary.json
//
// summary.json is one JSON object, SummaryFile:
//
//	{
//	  "version": 2,                       // SummaryVersion; changes only when a field is removed or changes meaning
//	  "verdict": "pass",                  // pass, fail, invalid or interrupted
//	  "valid": true, "invalid_reason": "...",   // the reason only when not valid
//	  "interrupted": false, "stopped": "...",   // stopped: why the run ended early, when it did
//	  "header": {
//	    "model": "meta-llama/Llama-3.1-8B-Instruct",
//	    "gpu": "NVIDIA H100 80GB HBM3",   // or "simulated NVIDIA H100-80GB (profile llama-3.1-8b-h100)"
//	    "max_running_requests": 256,      // 0: the server's default
//	    "run_dir": "reports/20261123-195501-node-moderate-poisson",
//	    "servers": [{"name": "server-1", "url": "http://127.0.0.1:41234", "role": "prefill"}],  // role: PD only
//	    "request_rate": 10                // requests/s, or the string "inf" (all at once)
//	  },
//	  "summary": {                        // metrics.Summary; its doc comment defines every figure
//	    "requests": 1000, "succeeded": 998, "failed": 2,
//	    "duration_s": 101.1,
//	    "total_input_tokens": 508700, "total_output_tokens": 127150, "total_cached_tokens": 0,
//	    "request_throughput": 9.87,       // per second of duration_s
//	    "input_throughput": 5032.1, "output_throughput": 1257.7, "total_throughput": 6289.8,
//	    "server_latency_ms": DIST, "total_latency_ms": DIST, "queue_time_ms": DIST,
//	    "e2e_latency_ms": DIST, "ttft_ms": DIST, "itl_ms": DIST, "itl_per_chunk_ms": DIST,
//	    "tpot_ms": DIST, "schedule_lag_ms": DIST, "send_lag_ms": DIST,
//	    "peak_concurrency": 57, "mean_concurrency": 24.2, "max_queue_depth": 42,
//	    "errors": {"HTTP 503: ...": 2}    // omitted when no request failed
//	  },
//	  "accounting": {"sent": 1000, "succeeded": 998, "failed": 2, "cancelled": 0,
//	                 "requests_jsonl_lines": 1000, "warmup": 0},
//	  "client": {"schedule_lag_p99_ms": 0.4, "handoff_p99_ms": 0.05, "cpu_busy": 0.12,   // the load generator's self-check
//	             "bound_waits": 0, "bound_wait_max_ms": 0},
//	  "simulator_steps": [{"server": "server-1", "url": "http://127.0.0.1:40001", "steps": 5331,
//	                       "late_steps": 3, "late_fraction": 0.0006, "late_ms": 5,
//	                       "max_late_fraction": 0.01}],   // the simulators' self-check (SimulatorCheck)
//	  "gpu": {"source": "simulated", "gpus": [...]},            // GPUSection
//	  "windows": [...],                   // figures between timeline events (Window)
//	  "events": [...],                    // the timeline (timeline.Event)
//	  "bounds": [{"step": "the P99 TTFT is below 200 ms", "where": "features/node.feature:12",
//	              "figure": "P99 TTFT", "measured": 143.2, "unit": "ms", "pass": true}],
//	  "kv_transfer": {"transfers": 200, "mean_ms": 6.7, "source": "..."}   // PD prefill servers only (KVTransfer)
//	}
//
// The Go types (SummaryFile and what it holds) document every field.
// where each DIST is a metrics.Distribution in milliseconds:
//
//	{"count": 998, "mean": 245.3, "std": 80.1, "min": 90.2, "median": 230.0,
//	 "p90": 401.7, "p95": 489.2, "p99": 612.8, "max": 700.4}
//
// A DIST with "count": 0 means no samples (for example TTFT of a run
// without streaming): its zeros are not measurements. Times are floating
// point milliseconds; counts are integers.
package report
