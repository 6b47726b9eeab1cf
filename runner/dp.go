package runner

import (
	"fmt"
	"strings"
)

// CheckEveryRankServed fails unless every data-parallel rank of every
// server got at least n of the last run's requests, by each rank's own
// scheduler counter (a DP server's ranks in routing.json). A server
// without data parallelism has no ranks to judge, which fails the check.
func (t *Test) CheckEveryRankServed(st Step, n int) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	if r.Routing == nil {
		return t.record(r, verdict(st, false, "no per-server counts for this run"))
	}
	var short, none []string
	for _, w := range r.Routing.Workers {
		if len(w.Ranks) == 0 {
			none = append(none, w.Worker)
		}
		for _, rk := range w.Ranks {
			if rk.Requests < float64(n) {
				short = append(short, fmt.Sprintf("%s rank %d served %.0f", w.Worker, rk.Rank, rk.Requests))
			}
		}
	}
	switch {
	case len(none) > 0:
		return t.record(r, verdict(st, false, "%s reported no data parallel ranks (is it a server with data parallel size above 1?)", strings.Join(none, ", ")))
	case len(short) > 0:
		return t.record(r, verdict(st, false, "expected every data parallel rank to serve at least %d requests, but %s", n, strings.Join(short, ", ")))
	}
	return t.record(r, verdict(st, true, "every data parallel rank served at least %d requests", n))
}
