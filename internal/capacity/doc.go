// Package capacity answers capacity-planning questions by running load
// points and reading their results: sweeps over rates, users or server
// settings with a latency-throughput curve and its knee; a stress ramp
// that raises the rate until the error rate passes a limit or an SLO
// breaks; the highest rate that meets an SLO; and the fewest servers that
// meet an SLO at a given rate. Every search here is a pure function over a
// callback that runs one point (a Probe), so it is tested without
// processes; the runner supplies the callback (a fresh run per point).
//
// Read slo.go first (an SLO is a list of figures.Bound judged on a run,
// and the noise rule: when a point is repeated and how it is judged),
// then search.go (the highest rate meeting the SLO: bracketing, then
// bisection to a stated precision), count.go (the fewest servers), ramp.go
// (the stress ramp), sweep.go (a sweep's table of every figure per point
// and the knee), and write.go and chart.go (the files each writes).
//
// # Definitions
//
// The noise rule. A point is run once. When any bound's measured value
// lies within Noise.Margin (10% by default) of its limit, relative to the
// limit, the point is too close to call from one run and is run again
// until it has Noise.Runs runs (3 by default), each with another seed (the
// runner adds 1000 per repeat, so the arrivals, the prompts and the
// simulators' jitter all change); it is then judged on each bound's median
// over the runs. A run that stopped early, or whose figure cannot be read
// (no successful request), fails that bound and is never marginal.
//
// The highest rate meeting an SLO. The search tries its start rate first
// (the rate the scenario asks about, so the verdict "at least R" is exact
// whatever the precision), doubles the rate while the SLO holds or halves
// it while it does not, until one rate passes and another fails (or the
// search leaves [Min, Max]), then bisects the bracket until the failing
// rate is within the precision of the passing one: hi − lo ≤ max(Abs,
// Rel × lo). It reports lo, the highest rate seen to meet the SLO, and hi,
// the lowest rate seen to break it above lo: the answer lies in [lo, hi),
// and hi − lo is its uncertainty. The search assumes that meeting the SLO
// is monotone in the rate (true of a queue, up to noise).
//
// The fewest servers. The same bracketing over whole numbers: 1, 2, 4, …
// servers until the SLO holds (or Max is passed), then bisection down to
// adjacent counts. SLO attainment, for the curve, is the share of measured
// requests that succeeded and met every per-request objective the SLO
// implies (the limits of its TTFT, TPOT and E2E latency bounds, in
// vLLM's goodput sense, see internal/goodput); the runner measures it.
//
// The knee of a latency-throughput curve. Take the sweep's points in
// order, x the achieved request throughput and y the median E2E latency,
// each rescaled to [0, 1] over the points. The knee is the point farthest
// below the straight line from the first point to the last (Kneedle,
// Satopää et al. 2011, without smoothing): where latency turns from
// flat to steep as the throughput stops growing. There is none with fewer
// than three points, when either axis does not vary, or when no point is
// at least KneeDepth (0.05 of the rescaled axes) below that line.
package capacity
