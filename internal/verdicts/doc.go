// Package verdicts writes the one-line, machine-readable verdict of each
// scenario that CI reads: printed to stdout after the prefix
// "SGLTEST-VERDICT " and appended to verdicts.jsonl in the reports root.
//
// Read verdicts.go: Line (the JSON object), Line.String (the stdout form),
// Append (safe when several sgltest processes share one reports root) and
// Read.
//
// A line looks like:
//
//	SGLTEST-VERDICT {"scenario":"a moderate Poisson load","feature":"features/node.feature","verdict":"fail","gate":"regression","run":"reports/20261123-195501.123-a-moderate-poisson-load-x5","runs":[...],"reason":"P99 TTFT regressed: ...","time":"2026-11-23T19:55:31Z"}
//
// verdict is "pass", "fail", "invalid" (a run's figures measured the
// client, not the server) or "interrupted"; gate, present when the
// scenario compared itself with a baseline, is the worst of its gate
// verdicts: "pass", "inconclusive" or "regression".
package verdicts
