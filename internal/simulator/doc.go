// Package simulator is an SGLang server without a GPU: an HTTP server that
// speaks SGLang's native API, in front of a model of SGLang's scheduler whose
// step times come from a GPU-and-model profile. Scenarios run against it on
// machines without GPUs, and it answers what-if questions about batch sizes,
// KV capacity and scheduling.
//
// # Reading guide
//
//   - engine.go: the scheduler as a pure state machine. Step applies SGLang's
//     prefill-first rule and its admission budgets (max_running_requests,
//     max_prefill_tokens, chunked_prefill_size with one chunked request at a
//     time, and the KV pool, or add_one_req_ignore_eos's check for requests
//     that ignore EOS without the radix cache), the batch_is_full latch, and
//     retraction, and returns the step's duration and the outputs that
//     become visible when it ends. It has no clock and no goroutines.
//     DeferOutputs is the virtual-time fast path (internal/cluster): decode
//     steps where nothing can change batch membership defer their per-token
//     outputs, applied before the next step that could, with the same
//     records as step-by-step delivery.
//   - steptime.go: the step-time model (simulator-design.md s5.2) with
//     tensor parallelism, the overlap scheduler, the CUDA-graph batch limit
//     and attention backends.
//   - profile.go: profiles as data (fixtures/profiles/*.json), each number
//     with its provenance; ../../docs/calibration.md lists the published
//     figures each is fitted to and checked against
//     (../cluster/calibration_data.go).
//   - gpu.go: simulated GPU figures (busy time, a power model from the
//     profile's idle and TDP watts, memory from the KV cache in use), for
//     /metrics and for virtual time (GPUModel.Read).
//   - tokens.go: the deterministic tokenizer and chat template for text
//     prompts, and the generated output's ids and text.
//   - server.go: the driver goroutine that owns the engine and sleeps on a
//     Clock (clock.go) until each step ends, and records per-request timing
//     as outputs become visible; handlers.go (native API and info),
//     openai.go (OpenAI API), handlers_admin.go (auth, loads, flush) and
//     metrics.go (/metrics): the HTTP API; command.go: Main and its flags.
//   - dp.go: SGLang's in-process data parallelism: one driver and engine
//     per DP rank behind the one front end, and the DataParallelController's
//     load balance methods, with what SGLang's source does for each.
//   - pd.go: PD disaggregation (a prefill or decode server: the bootstrap
//     port, the KV handoff and transfer, the PD metrics; read its opening
//     comment for what SGLang and smg do) and engine_prebuilt.go, the
//     decode server's admission of requests whose KV was transferred.
//   - routertest/: the real SGLang router (sglang-router 0.3.2, smg 1.13.0)
//     routing to simulators, in PD mode too.
//
// The authorities are ../../../shared/sglang-reference.md for every endpoint,
// field and metric name, and ../../../shared/simulator-design.md for the
// time model and the scheduler rules.
//
// # Flags
//
// Main accepts SGLang's flag names, so a launcher passes one argv to real
// SGLang or to the simulator: --model-path (alias --model, required),
// --served-model-name, --host (127.0.0.1), --port (30000), --tp-size (aliases
// --tensor-parallel-size and --tp; default the profile's), --max-running-requests,
// --max-total-tokens, --max-prefill-tokens, --context-length (these three take
// SGLang's k/M/Ki/Mi suffixes), --chunked-prefill-size (-1 disables),
// --mem-fraction-static, --schedule-policy (fcfs or lpm), --stream-interval,
// --enable-metrics, --skip-server-warmup, --random-seed, --api-key,
// --enable-cache-report, --max-queued-requests, --disable-radix-cache,
// --schedule-conservativeness, --incremental-streaming-output (alias
// --stream-output), --disable-overlap-schedule, --cuda-graph-max-bs (alias
// --cuda-graph-max-bs-decode), --disable-cuda-graph, --attention-backend
// (one the profile has figures for), --dp-size (alias --data-parallel-size;
// default 1: N ranks, each its own engine with the flags above, so
// --max-running-requests and the KV pool are per rank, on --tp-size GPUs
// each) and --load-balance-method (auto, round_robin,
// follow_bootstrap_room, total_requests or total_tokens; auto is
// round_robin; dp.go says how each picks a rank, and why a
// follow_bootstrap_room server exits at its first request without a
// bootstrap_room, its own warmup request included, as SGLang does),
// --disaggregation-mode (null, prefill or
// decode), --disaggregation-bootstrap-port (default 8998; a prefill server
// listens there, a decode server assumes it for a request without one) and
// --disaggregation-transfer-backend (mooncake, nixl, ascend, fake, mori,
// mooncake_tcp; fake moves nothing at once, the others are the profile's
// kv_transfer link). The environment variables
// SGLANG_DISAGGREGATION_BOOTSTRAP_TIMEOUT and
// SGLANG_DISAGGREGATION_WAITING_TIMEOUT (whole seconds, 300 by default)
// bound a prefill request's wait for its decode server and a decode
// request's wait for its KV. Three flags are the simulator's own:
// --sim-profile NAME|FILE.json (default llama-3.1-8b-h100),
// --sim-startup-delay DURATION (default 0; /health answers 503 until it has
// passed and the warmup request has finished) and --sim-health-poll
// DURATION (default 1s, SGLang's: how often a health check looks for its
// generation's output). Any other flag is an error.
//
// # HTTP API
//
// Native: /generate (POST, PUT; streamed or not), /health and
// /health_generate (SGLang's check: a one-token generation, input_ids [0],
// when idle, nothing while requests run; 200 once any output reaches the
// front end, looked for once a second; 503 after 20 s), /ping,
// /model_info, /server_info (with internal_states), /v1/models, and the
// deprecated /get_model_info and /get_server_info. OpenAI: /v1/completions
// (prompt as text or token ids, max_tokens default 16) and
// /v1/chat/completions (messages rendered with the profile's chat template;
// max tokens null by default, clamped by the engine), streamed as SGLang
// streams them: deltas, chat's role-only first event, a separate finish
// event, the usage event on stream_options.include_usage, a bare 32-hex id
// unless rid is given, and errors found before the first token as plain 400
// JSON. Load and control: /v1/loads (JSON or format=prometheus), the legacy
// /get_load array that sglang-router's power_of_two reads, and /flush_cache
// (200 only when idle, else 400). A prefill server also serves its
// bootstrap port: GET /health and POST /sim/kv/{room} (pd.go), the
// simulator's own handoff protocol. A prefill or decode server refuses a
// request without bootstrap_room with SGLang's 400 "Disaggregated request
// received without bootstrap room id". /metrics (with --enable-metrics) has
// SGLang's scheduler gauges (new_token_ratio and num_retracted_reqs among
// them) and token and retraction counters, the front-end counters, and the
// TTFT, inter-token, end-to-end and queue-time histograms with SGLang's
// default buckets, is_streaming labels where SGLang has them; the histograms
// are observed when outputs become visible to the front end, and health
// checks are not counted. It also has the simulator's own families, named
// sgltest:sim_*: the step-lateness histogram (MetricStepLateness) and the
// simulated GPU figures (MetricGPUBusy, MetricGPUElapsed, MetricGPUEnergy,
// MetricGPUMemoryUsed, MetricGPUMemoryTotal; gpu.go), and on PD servers
// engine_type prefill or decode, SGLang's PD queue gauges, failure counters
// and (on a prefill server) kv_transfer_* histograms. With --api-key every path but /health* and
// /metrics needs "Authorization: Bearer KEY" (401 {"error":"Unauthorized"}
// otherwise). A request refused because --max-queued-requests requests
// already wait is a 503 ErrorResponse "The request queue is full.", or,
// streamed, a 200 stream whose one chunk has finish_reason abort (native:
// with status_code 503). Every prompt can hit the radix cache: token ids as
// given, text through the deterministic tokenizer (tokens.go);
// meta_info.cached_tokens and, with --enable-cache-report,
// usage.prompt_tokens_details report the hits. meta_info also carries
// weight_version ("default"), reasoning_tokens (0) and num_retractions.
// Without ignore_eos a response ends at its natural length, EOS included,
// with finish_reason stop (matched: the EOS id): the length
// sampling_params.custom_params.sgltest_eos_after gives (a dataset's
// reference output), or one drawn from the profile's natural_output;
// max_new_tokens still caps it. An unknown sampling_params key is SGLang's
// uncaught TypeError: 500 "Internal Server Error", or a 200 stream cut off
// without [DONE].
//
// A DP server (--dp-size above 1) labels every scheduler family of
// /metrics and every sgltest:sim_gpu_* family with dp_rank, one sample per
// rank; the front end's families stay unlabelled, one per server. /v1/loads
// (filtered by its dp_rank parameter), /get_load and /server_info's
// internal_states have one entry per rank, /server_info reports dp_size and
// the resolved load_balance_method, /flush_cache flushes every rank (and
// fails unless all are idle), and /generate's bootstrap_room is read for
// follow_bootstrap_room.
//
// # What is modelled, and what is not yet
//
// Modelled: continuous batching with prefill-first steps, chunked prefill
// (one chunked request at a time); PrefillAdder's budgets
// (max_running_requests, max_prefill_tokens as the scheduler's code applies
// it, chunked_prefill_size and the KV budget: free plus evictable cache,
// less running requests' remaining output clipped at 4096 times
// new_token_ratio, less each admitted request's uncached input, output and
// page); add_one_req_ignore_eos for requests that ignore EOS while the
// radix cache is disabled (bench_serving's regime); the batch_is_full latch;
// the new_token_ratio tracker (schedule_conservativeness, decay per decode
// step, reset on retraction and on idle); retraction when a decode step
// cannot get its slots (fewest generated, then longest prompt, keeping one;
// KV freed uncached, the request appended to the waiting queue and
// recomputed on readmission); a radix prefix cache (radix.go) over token ids
// with lock counts, insertion after each chunk and at finish, and LRU
// eviction of unlocked leaves on demand, whose hits skip prefill compute;
// schedule policies fcfs and lpm (fcfs when over 128 wait or the cache is
// disabled); --max-queued-requests (ErrQueueFull); tensor parallelism
// (weights, FLOPs and KV split over the GPUs, two all-reduces per layer, the
// KV pool from one GPU's memory); the overlap scheduler and the CUDA-graph
// batch limit as the profile's runtime says; attention backends the profile
// has figures for; streaming with stream_interval and SGLang's coalescing
// of outputs a slow client has not read, the self-warmup request before
// /health turns 200, and /metrics gauges sampled at SGLang's cadence (each
// prefill batch, every 40 decode steps, on going idle; cache_hit_rate is
// zeroed at each decode log); SGLang's in-process data parallelism (one
// engine per rank, the controller's round_robin, total_requests,
// total_tokens and follow_bootstrap_room with their load snapshots and
// speculative counts; dp.go). ../cluster runs the same engine in virtual
// time for whole workloads (without data parallelism). PD disaggregation: prefill with max_new_tokens
// 1, a bootstrap queue until the decode server registers for the room, the
// transfer over the profile's kv_transfer link (one GPU's KV share over
// one GPU's bandwidth, transfers queued on the link, plus a fixed
// latency) while the prefill response waits for it, and decode servers
// that admit transferred requests without prefill compute and emit the
// prefill's token at once; a decode server keeps no radix cache and
// --max-queued-requests is ignored, as in SGLang.
//
// Not yet: a request's routed_dp_rank and DP attention; data parallelism
// on a PD server; in PD disaggregation, the decode server's KV reservation before
// the transfer (its slots are taken after it), a prefill server holding a
// request's KV until its transfer ends, the backends' different speeds
// and decode-side retraction recovery; lpm's in-batch prefix deprioritisation, the other policies, page
// sizes above 1, mixed-chunk batches, batch and n > 1 requests, stop strings
// and stop_token_ids, and the overlap scheduler's one-step output delay. A
// retracted request's cached_tokens stays what its first admission matched;
// a later turn of a conversation hits the cache for the earlier turns'
// prompts, not for the earlier responses (the engine keys generated tokens
// apart from the tokenizer's ids).
//
// Other deliberate differences from SGLang: text has no real vocabulary
// (tokens.go: about 1.3 tokens per English word; send input_ids for exact
// lengths); an unset --random-seed means 0 rather than a random seed, so two
// runs of a scenario match.
package simulator
