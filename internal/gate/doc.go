// Package gate judges a candidate's figures against a baseline's from
// repeated runs, and says pass, regression or inconclusive for each, so a
// CI gate catches real regressions without failing on noise.
//
// # Reading guide
//
//   - figure.go: Figure (a named number, its unit and which way is worse)
//     and Series (its value in each repeat).
//   - judge.go: Rule, Judge and Verdict: the decision rule below, and the
//     minimum detectable effect (MDE). Overall folds a scenario's verdicts.
//   - utest.go and estimate.go: the statistics: the one-sided Mann-Whitney
//     U test (exact, ties included), the Hodges-Lehmann shift and the
//     seeded percentile bootstrap. stats_test.go checks them against SciPy.
//   - compare.go: Compare and Table, the side-by-side text of two sets of
//     repeats (`sgltest compare A B`).
//   - figures.go: the figures taken from metrics.Summary, named by their
//     summary.json paths: Lookup (any statistic of any latency, and the
//     throughputs), Parse (as a sentence names them: "P99" "TTFT"),
//     Catalog and FromSummaries (the usual ones, for tables), Every and
//     EveryFromSummaries (all of them, for baselines), Extract (one figure
//     over repeats), Pooled and PooledAll (a figure over every request of
//     every repeat).
//   - proof_test.go: issue 10's proof on the simulator in virtual time,
//     with and without the rerun policy (below).
//
// # The decision rule
//
// For one figure with baseline repeats a₁…aₙ and candidate repeats
// b₁…bₘ, a tolerance t (0.10 for "no worse by more than 10%") and alpha α
// (0.05), with "worse" meaning higher for a latency and lower for a
// throughput:
//
//   - change = median(b)/median(a) − 1, and its interval: the percentile
//     bootstrap of that ratio at confidence 1 − 2α (90%), each side
//     resampled with replacement 10000 times from a seeded stream, so a
//     verdict is reproducible. Each end of a 90% interval is a one-sided
//     95% bound.
//   - p: the exact one-sided Mann-Whitney U test of whether the candidate,
//     divided by 1 + t (or 1 − t where lower is worse), is still worse than
//     the baseline: evidence of a worsening beyond the tolerance, not of
//     any change at all. Ties get mid-ranks and the p-value stays exact
//     (the permutation distribution of the rank sum); only past about 50
//     repeats a side does it fall back to the normal approximation.
//   - regression: the whole interval lies beyond the tolerance on the worse
//     side AND p ≤ α. Both must agree: the interval says how large, the U
//     test, which makes no assumption about the noise's shape, that it is
//     not chance. When the candidate's repeats are the baseline's scaled by
//     exactly 1 + t, the exact U test alone caps the chance of a
//     regression verdict at α.
//   - pass: the interval's worse end is within the tolerance (an
//     improvement passes).
//   - inconclusive: anything else: the interval straddles the tolerance,
//     or it lies beyond it but the U test does not confirm (too few
//     repeats, or one wild repeat).
//
// A side with a single repeat says nothing about noise, so the verdict is
// inconclusive whatever the values. A baseline whose median is 0 makes a
// relative change undefined: all zeros on both sides pass, anything else
// is inconclusive. Values must be
// finite and not negative.
//
// # Minimum detectable effect
//
// Every verdict carries the MDE: the smallest worsening that this many
// repeats would call a regression four times in five, given the noise the
// repeats show. With s the pooled standard deviation of the repeats
// relative to each side's median and L = (z₁₋α + z₀.₈)·1.3·s·√(1/n + 1/m),
// MDE = (1 + t)·e^L − 1 where higher is worse and 1 − (1 − t)·e^−L where
// lower is worse (the factor 1.3 is calibrated by simulation, see
// TestMDEIsDetectedAboutFourTimesInFive). When the exact U test cannot
// reach α at all with n and m repeats (2 vs 2, say) the MDE is "none".
//
// # Inconclusive
//
// Inconclusive means the repeats cannot tell whether the figure got worse
// by more than the tolerance: the noise is as large as the effect. It is
// not a pass. Look at the MDE: if it is well above the tolerance, add
// repeats (the MDE's excess over the tolerance shrinks as 1/√k) or make
// the run quieter (more requests per repeat, a quieter machine); if the
// interval sits just across the tolerance, rerun once to see whether it
// recurs.
//
// # Rerun
//
// A runner may rerun an inconclusive candidate once (sgltest's
// SGLTEST_GATE_RERUN): k more repeats, and Judge over all 2k against the
// same baseline. That is a second look at the data, so in the worst case
// (a candidate exactly at the tolerance) the chance of a regression verdict
// is at most 2α instead of α. The proof measures the policy: over 200
// trials of 5 repeats of 300 requests it settled 34 of the 164 trials an
// unchanged configuration left inconclusive, with no false alarm, and
// still caught the 20% slower profile in all 200.
//
// # Goodput
//
// Goodput in vLLM's sense lives in internal/goodput.
package gate
