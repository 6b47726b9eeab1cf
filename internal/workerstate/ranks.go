package workerstate

import (
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"

	"github.com/sgltest/sgltest/internal/api"
)

// RankCounters are one DP rank's own cumulative figures on a server that
// runs SGLang's data parallelism (--dp-size N), whose scheduler families
// carry a dp_rank label. SGLang counts requests and their tokens in the
// front end, for the whole server; per rank it exports only what each
// scheduler counts, so these are the scheduler's figures.
type RankCounters struct {
	Rank int
	// Admitted counts the requests the rank's scheduler took from its
	// waiting queue: the count of its sglang:queue_time_seconds histogram.
	// Over a run whose requests all finished it is the requests the rank
	// served.
	Admitted float64
	// PrefillTokens are the prompt tokens the rank prefilled or found in
	// its cache, DecodeTokens the tokens it decoded
	// (sglang:realtime_tokens_total by mode).
	PrefillTokens, DecodeTokens float64
}

// ranks reads the per-rank counters of a DP server, in rank order; nil
// for a server without dp_rank labels.
func ranks(fams map[string]*dto.MetricFamily) []RankCounters {
	byRank := map[int]*RankCounters{}
	get := func(m *dto.Metric) *RankCounters {
		for _, l := range m.GetLabel() {
			if l.GetName() != "dp_rank" {
				continue
			}
			r, err := strconv.Atoi(l.GetValue())
			if err != nil {
				return nil
			}
			if byRank[r] == nil {
				byRank[r] = &RankCounters{Rank: r}
			}
			return byRank[r]
		}
		return nil
	}
	for _, m := range fams[api.MetricQueueTime].GetMetric() {
		if rc := get(m); rc != nil {
			rc.Admitted += float64(m.GetHistogram().GetSampleCount())
		}
	}
	for _, m := range fams[api.MetricRealtimeTokens].GetMetric() {
		rc := get(m)
		if rc == nil {
			continue
		}
		switch label(m, "mode") {
		case "prefill_compute", "prefill_cache":
			rc.PrefillTokens += value(m)
		case "decode":
			rc.DecodeTokens += value(m)
		}
	}
	if len(byRank) == 0 {
		return nil
	}
	out := make([]RankCounters, 0, len(byRank))
	for _, rc := range byRank {
		out = append(out, *rc)
	}
	slices.SortFunc(out, func(a, b RankCounters) int { return a.Rank - b.Rank })
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// subRanks returns a − b rank by rank; nil unless both list the same
// ranks (a server that restarted with other ranks has no difference).
func subRanks(a, b []RankCounters) []RankCounters {
	return combineRanks(a, b, -1)
}

// addRanks returns a + b rank by rank; with one side empty, the other.
func addRanks(a, b []RankCounters) []RankCounters {
	switch {
	case len(a) == 0:
		return slices.Clone(b)
	case len(b) == 0:
		return slices.Clone(a)
	}
	return combineRanks(a, b, 1)
}

func combineRanks(a, b []RankCounters, sign float64) []RankCounters {
	if len(a) != len(b) || len(a) == 0 {
		return nil
	}
	out := make([]RankCounters, len(a))
	for i := range a {
		if a[i].Rank != b[i].Rank {
			return nil
		}
		out[i] = RankCounters{Rank: a[i].Rank, Admitted: a[i].Admitted + sign*b[i].Admitted,
			PrefillTokens: a[i].PrefillTokens + sign*b[i].PrefillTokens, DecodeTokens: a[i].DecodeTokens + sign*b[i].DecodeTokens}
	}
	return out
}
