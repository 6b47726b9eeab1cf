package goodput

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// SLO holds the per-request objectives; a zero bound is not checked, and at
// least one must be set.
type SLO struct {
	TTFT, TPOT, E2E time.Duration
}

func (s SLO) check() error {
	switch {
	case s.TTFT < 0 || s.TPOT < 0 || s.E2E < 0:
		return fmt.Errorf("goodput: SLO bounds must not be negative, got TTFT %v, TPOT %v, E2E %v", s.TTFT, s.TPOT, s.E2E)
	case s.TTFT == 0 && s.TPOT == 0 && s.E2E == 0:
		return errors.New("goodput: no SLO bound is set (TTFT, TPOT or E2E)")
	}
	return nil
}

func (s SLO) String() string {
	var parts []string
	for _, b := range []struct {
		name string
		d    time.Duration
	}{{"TTFT", s.TTFT}, {"TPOT", s.TPOT}, {"E2E", s.E2E}} {
		if b.d > 0 {
			parts = append(parts, fmt.Sprintf("%s ≤ %v", b.name, b.d))
		}
	}
	return strings.Join(parts, " and ")
}

// Request is one request's values.
type Request struct {
	// Index is the request's index in the run, for messages.
	Index int
	// OK says the request succeeded (metrics.Record.OK).
	OK bool
	// HasTTFT says a first token was seen; TTFT and TPOT are meaningless
	// without it (a request that was not streamed).
	HasTTFT bool
	TTFT    time.Duration
	// TPOT is (E2E − TTFT) / (output tokens − 1), 0 for one output token.
	TPOT time.Duration
	E2E  time.Duration
}

// FromRecords returns the per-request values of the measured (not warmup)
// records, with sgltest's definitions: TTFT = FirstToken − Sent, E2E =
// Done − Sent.
func FromRecords(recs []metrics.Record) []Request {
	out := make([]Request, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Warmup {
			continue
		}
		q := Request{Index: r.Index, OK: r.OK(), E2E: r.Done - r.Sent}
		if r.FirstToken > 0 {
			q.HasTTFT, q.TTFT = true, r.FirstToken-r.Sent
			if r.OutputTokens > 1 {
				q.TPOT = (q.E2E - q.TTFT) / time.Duration(r.OutputTokens-1)
			}
		}
		out = append(out, q)
	}
	return out
}

// Result is what Measure found.
type Result struct {
	SLO SLO
	// Requests is every request measured; Good those that succeeded and met
	// every bound of SLO.
	Requests, Good int
	// Fraction is Good / Requests.
	Fraction float64
	// Goodput is Good per second of the run (req/s).
	Goodput float64
	// Failed counts failed requests; MissedTTFT, MissedTPOT and MissedE2E
	// count successful requests over each bound (one request can miss
	// several).
	Failed, MissedTTFT, MissedTPOT, MissedE2E int
}

// String is a one-line account, e.g. "291 of 300 requests (97.0%) met TTFT
// ≤ 200ms and TPOT ≤ 50ms: goodput 9.70 req/s (6 missed TTFT, 2 missed
// TPOT, 1 failed)".
func (r Result) String() string {
	var why []string
	for _, m := range []struct {
		n    int
		what string
	}{{r.MissedTTFT, "missed TTFT"}, {r.MissedTPOT, "missed TPOT"}, {r.MissedE2E, "missed E2E"}, {r.Failed, "failed"}} {
		if m.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", m.n, m.what))
		}
	}
	s := fmt.Sprintf("%d of %d requests (%.1f%%) met %s: goodput %.2f req/s", r.Good, r.Requests, 100*r.Fraction, r.SLO, r.Goodput)
	if len(why) > 0 {
		s += " (" + strings.Join(why, ", ") + ")"
	}
	return s
}

// Measure counts the requests that met slo and divides by their number
// and by the run's duration. It refuses an empty run, a duration that is
// not positive, and a TTFT or TPOT bound over a successful request that
// has no first token (it was not streamed), naming the request.
func Measure(reqs []Request, slo SLO, duration time.Duration) (Result, error) {
	if err := slo.check(); err != nil {
		return Result{}, err
	}
	if len(reqs) == 0 {
		return Result{}, errors.New("goodput: no requests")
	}
	if duration <= 0 {
		return Result{}, fmt.Errorf("goodput: run duration must be positive, got %v", duration)
	}
	res := Result{SLO: slo, Requests: len(reqs)}
	for _, q := range reqs {
		if !q.OK {
			res.Failed++
			continue
		}
		if !q.HasTTFT && (slo.TTFT > 0 || slo.TPOT > 0) {
			return Result{}, fmt.Errorf("goodput: request %d has no first token (not streamed), so its TTFT and TPOT are unknown", q.Index)
		}
		good := true
		if slo.TTFT > 0 && q.TTFT > slo.TTFT {
			res.MissedTTFT++
			good = false
		}
		if slo.TPOT > 0 && q.TPOT > slo.TPOT {
			res.MissedTPOT++
			good = false
		}
		if slo.E2E > 0 && q.E2E > slo.E2E {
			res.MissedE2E++
			good = false
		}
		if good {
			res.Good++
		}
	}
	res.Fraction = float64(res.Good) / float64(res.Requests)
	res.Goodput = float64(res.Good) / duration.Seconds()
	return res, nil
}

// ReadRequests reads the per-request values of the measured requests of a
// run's requests.jsonl from r, one record at a time, so a long run's
// chunks are never all in memory. name is the file's name for errors,
// which give its line.
func ReadRequests(r io.Reader, name string) ([]Request, error) {
	var out []Request
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	one := make([]metrics.Record, 1)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		one[0] = metrics.Record{}
		if err := json.Unmarshal(sc.Bytes(), &one[0]); err != nil {
			return nil, fmt.Errorf("goodput: %s line %d: %w", name, line, err)
		}
		out = append(out, FromRecords(one)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("goodput: %s: %w", name, err)
	}
	return out, nil
}

// Pool combines the results of a scenario's repeats, measured with one
// SLO, into the result of all their requests together: counts add up, the
// fraction is Σ good / Σ requests and the goodput Σ good / Σ durations
// (each repeat's run duration, in the same order).
func Pool(rs []Result, durations []time.Duration) (Result, error) {
	if len(rs) == 0 || len(rs) != len(durations) {
		return Result{}, fmt.Errorf("goodput: pooling %d results with %d durations", len(rs), len(durations))
	}
	out := Result{SLO: rs[0].SLO}
	var total time.Duration
	for i, r := range rs {
		if r.SLO != out.SLO {
			return Result{}, fmt.Errorf("goodput: repeat %d was measured against %s, not %s", i+1, r.SLO, out.SLO)
		}
		if durations[i] <= 0 {
			return Result{}, fmt.Errorf("goodput: repeat %d: run duration must be positive, got %v", i+1, durations[i])
		}
		out.Requests += r.Requests
		out.Good += r.Good
		out.Failed += r.Failed
		out.MissedTTFT += r.MissedTTFT
		out.MissedTPOT += r.MissedTPOT
		out.MissedE2E += r.MissedE2E
		total += durations[i]
	}
	out.Fraction = float64(out.Good) / float64(out.Requests)
	out.Goodput = float64(out.Good) / total.Seconds()
	return out, nil
}
