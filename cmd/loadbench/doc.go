// Command loadbench measures sgltest's load generator against a
// zero-latency stub that speaks SGLang's wire format (load.Stub) on
// loopback: the highest request rate and streamed token rate it sustains
// with p99 schedule lag under a bound, the TTFT it adds at a given rate,
// and what each request costs the client (CPU time, allocations) and the
// stub. When wrk is installed it also measures wrk on the same stub with
// the same request, plain HTTP that parses no events, and prints sgltest's
// ceiling as a share of wrk's.
//
//	go run ./cmd/loadbench                       sweep the default rates
//	go run ./cmd/loadbench --rates 2000,8000 --tokens 50 --duration 5s --api chat
//	go run ./cmd/loadbench --stub in-process     stub in this process (shares the Go scheduler)
//	go run ./cmd/loadbench serve --addr 127.0.0.1:8099   the stub alone, for other tools
//
// By default the stub runs in a separate process (this binary re-executed
// as "serve"), which is the honest set-up: the generator's own scheduler
// and garbage collector are not shared with the server's. On a 2-core
// machine the two processes still compete for the same cores, so the
// figures are a floor for a dedicated client machine. The child exits when
// its stdin closes, so it never outlives the benchmark.
//
// Columns: offered rate; achieved requests and streamed tokens per
// second; p50 and p99 schedule lag (arrival − scheduled); the host's floor
// beside it (floor.go: the p99 wake-up lag of a thread that only sleeps to
// a schedule at the same rate, so a client lag near it is the machine's,
// not the client's); p99 send lag;
// p50 and p99 TTFT (the delay the client adds, the stub having none); the
// client's CPU time per request and its allocations per request (this
// process, so the in-process stub counts too); the stub process's CPU
// time per request; connections opened; the most requests in flight;
// failures.
//
// Read main.go first (flags, the sweep and its table), then floor.go.
package main
