package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
)

// Header describes what was measured: the lines above the figures in
// summary.txt and the "header" object of summary.json.
type Header struct {
	// Model is the served model, e.g. "meta-llama/Llama-2-7b-hf".
	Model string `json:"model"`
	// GPU names the accelerator, e.g. "NVIDIA A100-SXM4-80GB" or, for the
	// simulator, "simulated NVIDIA H100-80GB (profile llama-3.1-8b-h100)".
	GPU string `json:"gpu"`
	// MaxRunningRequests is the server's --max-running-requests; 0 means
	// the server's default.
	MaxRunningRequests int `json:"max_running_requests"`
	// RequestRate is the offered load in requests per second; +Inf means
	// all requests at once (written "inf").
	RequestRate float64 `json:"-"`
	// Arrival, when set, describes the arrival process in words (e.g. "8
	// closed-loop users" or "20 req/s (gamma, burstiness 0.5)") and is
	// printed in place of RequestRate.
	Arrival string `json:"arrival,omitempty"`
	// Clock, when set, says which clock ran: real servers in wall time, or
	// the simulator's engines in virtual time.
	Clock string `json:"clock,omitempty"`
	// Routing says who spread requests over the servers, e.g.
	// "sgltest's dispatcher, policy shortest_queue"; empty for one server.
	Routing string `json:"routing,omitempty"`
	// Servers names each server by number and the URL it answered at.
	Servers []ServerRef `json:"servers,omitempty"`
	// Dir is the run directory.
	Dir string `json:"run_dir,omitempty"`
}

// ServerRef names one server: "server-2" and where it answered.
type ServerRef struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Role is the server's PD role, prefill or decode; empty for a
	// regular server.
	Role string `json:"role,omitempty"`
}

// MarshalJSON writes h with request_rate as a number, or "inf" for +Inf. A
// NaN or negative infinite rate is an error.
func (h Header) MarshalJSON() ([]byte, error) {
	var rate json.RawMessage
	switch {
	case math.IsInf(h.RequestRate, 1):
		rate = json.RawMessage(`"inf"`)
	case math.IsNaN(h.RequestRate) || math.IsInf(h.RequestRate, -1):
		return nil, fmt.Errorf("report: request rate %v cannot be written", h.RequestRate)
	default:
		rate = strconv.AppendFloat(nil, h.RequestRate, 'g', -1, 64)
	}
	type plain Header // drops the methods, so this does not recurse
	return json.Marshal(struct {
		plain
		RequestRate json.RawMessage `json:"request_rate"`
	}{plain(h), rate})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (h *Header) UnmarshalJSON(b []byte) error {
	type plain Header
	var v struct {
		plain
		RequestRate json.RawMessage `json:"request_rate"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*h = Header(v.plain)
	switch s := strings.TrimSpace(string(v.RequestRate)); s {
	case "", "null":
		h.RequestRate = 0
	case `"inf"`:
		h.RequestRate = math.Inf(1)
	default:
		r, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New(`report: request_rate is neither a number nor "inf": ` + s)
		}
		h.RequestRate = r
	}
	return nil
}

const (
	textTitle  = "==================== Node Test Results ===================="
	textFooter = "=========================================================="
	// maxErrorLines bounds the error breakdown under Failed Requests.
	maxErrorLines = 5
	// maxErrorLen bounds one error text in that breakdown, in bytes.
	maxErrorLen = 120
)

// FormatText renders a summary in the Node Test Results layout: the header
// lines, throughput, server and total latency, queue, per-token latency
// (TTFT, ITL, TPOT, E2E), request counts with the most frequent errors and
// the accounting line, then the run's validity, its events, the figures
// between them, its bounds once judged, and the run directory. Numbers
// carry thousands separators; a latency with no samples reads "n/a",
// never 0 ms. The result ends with a newline.
func FormatText(f SummaryFile) string {
	s, h := f.Summary, f.Header
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	dist := func(name string, d metrics.Distribution) {
		line("- Mean %s: %s", name, msText(d, d.Mean))
		line("- Median %s: %s", name, msText(d, d.Median))
		line("- P99 %s: %s", name, msText(d, d.P99))
	}

	line("%s", textTitle)
	line("Model: %s", orUnknown(h.Model))
	line("GPU: %s", orUnknown(h.GPU))
	if h.MaxRunningRequests > 0 {
		line("Max Running Requests: %s", number(float64(h.MaxRunningRequests), 0))
	} else {
		line("Max Running Requests: server default")
	}
	if h.Clock != "" {
		line("Clock: %s", h.Clock)
	}
	if h.Arrival != "" {
		line("Request Rate: %s", h.Arrival)
	} else {
		line("Request Rate: %s", rateText(h.RequestRate))
	}
	if h.Routing != "" {
		line("Routing: %s", h.Routing)
	}
	if len(h.Servers) > 1 || (len(h.Servers) == 1 && h.Servers[0].URL != "") {
		refs := make([]string, len(h.Servers))
		for i, r := range h.Servers {
			refs[i] = strings.TrimSpace(r.Name + " " + r.URL)
			if r.Role != "" {
				refs[i] += " (" + r.Role + ")"
			}
		}
		line("Servers: %s", strings.Join(refs, ", "))
	}
	line("")
	line("Throughput Metrics:")
	line("- Request Throughput: %s req/s", number(s.RequestThroughput, 2))
	line("- Input Token Throughput: %s tok/s", number(s.InputThroughput, 0))
	line("- Output Token Throughput: %s tok/s", number(s.OutputThroughput, 0))
	line("")
	line("Latency Metrics:")
	line("- Mean Server Latency: %s", msText(s.ServerLatencyMS, s.ServerLatencyMS.Mean))
	line("- Mean Total Latency: %s", msText(s.TotalLatencyMS, s.TotalLatencyMS.Mean))
	line("- P95 Server Latency: %s", msText(s.ServerLatencyMS, s.ServerLatencyMS.P95))
	line("- P99 Server Latency: %s", msText(s.ServerLatencyMS, s.ServerLatencyMS.P99))
	line("")
	line("Queue Metrics:")
	line("- Mean Queue Time: %s", msText(s.QueueTimeMS, s.QueueTimeMS.Mean))
	line("- Max Queue Depth (client): %s", number(float64(s.MaxQueueDepth), 0))
	line("")
	line("Token Latency Metrics:")
	dist("TTFT", s.TTFTMS)
	dist("ITL", s.ITLMS)
	dist("TPOT", s.TPOTMS)
	dist("E2E Latency", s.E2ELatencyMS)
	line("")
	line("Request Metrics:")
	line("- Succeeded Requests: %s", number(float64(s.Succeeded), 0))
	line("- Failed Requests: %s", number(float64(s.Failed), 0))
	for _, e := range topErrors(s.Errors, maxErrorLines) {
		line("  - %s", e)
	}
	if s.Cancelled > 0 {
		line("- Cancelled Requests: %s", number(float64(s.Cancelled), 0))
		for _, e := range topErrors(s.CancelReasons, maxErrorLines) {
			line("  - %s", e)
		}
	}
	line("- Peak Concurrency: %s", number(float64(s.PeakConcurrency), 0))
	line("- Duration: %s s", number(s.DurationS, 2))
	line("- Accounting: %s", f.Accounting.Line())
	if f.Accounting.Error != "" {
		line("  - %s", f.Accounting.Error)
	}
	gpuText(line, f.GPU)
	line("")
	switch {
	case f.Valid:
		line("Validity: valid (client p99 schedule lag %s ms, hand-off %s ms, CPU %s%% busy%s)", number(f.Client.ScheduleLagP99MS, 3), number(f.Client.HandoffP99MS, 3), number(100*f.Client.CPUBusy, 0), stepsText(f.SimulatorSteps))
	default:
		line("Validity: INVALID: %s", f.Invalid)
	}
	if f.Stopped != "" {
		line("Stopped Early: %s", f.Stopped)
	}
	if len(f.Events) > 0 {
		line("")
		line("Events:")
		for _, e := range f.Events {
			line("- %s", e)
		}
	}
	if len(f.Windows) > 0 {
		line("")
		line("Between Events:")
		for _, w := range f.Windows {
			rate := "n/a"
			if w.ErrorRate != nil {
				rate = number(100**w.ErrorRate, 1) + "%"
			}
			line("- %s s to %s s (%s): %s requests, %s failed (%s), %s req/s, median TTFT %s, P99 TTFT %s",
				number(w.FromS, 1), number(w.ToS, 1), w.Label, number(float64(w.Requests), 0), number(float64(w.Failed), 0), rate,
				number(w.RequestThroughput, 2), msText(w.TTFTMS, w.TTFTMS.Median), msText(w.TTFTMS, w.TTFTMS.P99))
		}
	}
	if len(f.Bounds) > 0 {
		line("")
		line("Expectations:")
		for _, bd := range f.Bounds {
			mark := "PASS"
			if !bd.Pass {
				mark = "FAIL"
			}
			msg := bd.Step
			if bd.Message != "" {
				msg += ": " + bd.Message
			}
			line("- %s %s", mark, msg)
		}
		line("Verdict: %s", f.verdict())
	}
	if h.Dir != "" {
		line("")
		line("Run Directory: %s", h.Dir)
	}
	line("%s", textFooter)
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func rateText(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return strconv.FormatFloat(r, 'g', -1, 64) + " req/s"
}

// msText formats v, a statistic of d, in milliseconds with one decimal, or
// "n/a" when d has no samples.
func msText(d metrics.Distribution, v float64) string {
	if d.Count == 0 {
		return "n/a"
	}
	return number(v, 1) + " ms"
}

// number formats v with prec decimals and a comma between each group of
// three integer digits: number(5032.4, 0) is "5,032".
func number(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return s
	}
	return groupThousands(s)
}

// groupThousands inserts commas into the integer part of a decimal number
// written in 'f' format ("-1234.5" gives "-1,234.5").
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// topErrors lists up to n error texts with their counts, most frequent
// first (ties in text order), each on one line and shortened, plus a line
// counting the rest.
func topErrors(errs map[string]int, n int) []string {
	type kv struct {
		text  string
		count int
	}
	all := make([]kv, 0, len(errs))
	for k, v := range errs {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.text, b.text)
	})
	var out []string
	for i, e := range all {
		if i == n {
			rest := 0
			for _, r := range all[n:] {
				rest += r.count
			}
			out = append(out, fmt.Sprintf("%s more in %d other kinds", number(float64(rest), 0), len(all)-n))
			break
		}
		out = append(out, fmt.Sprintf("%s: %s", number(float64(e.count), 0), shorten(e.text)))
	}
	return out
}

// shorten puts text on one line and cuts it to maxErrorLen bytes at a rune
// boundary.
func shorten(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if text == "" {
		return "(no error text)"
	}
	if len(text) <= maxErrorLen {
		return text
	}
	cut := maxErrorLen
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// gpuText writes the GPU section: one line per GPU and the energy.
func gpuText(line func(string, ...any), g GPUSection) {
	if g.Source == "" && g.Unavailable == "" && len(g.GPUs) == 0 {
		return // a summary from before GPU telemetry: nothing to say
	}
	line("")
	switch {
	case g.Unavailable != "":
		line("GPU Metrics: unavailable: %s", g.Unavailable)
		return
	case g.Source == "simulated":
		line("GPU Metrics (simulated by the simulator's model, not measured):")
	default:
		line("GPU Metrics (%s):", g.Source)
	}
	stat := func(st telemetry.Stats, scale float64, unit string, prec int) string {
		if st.Missing != "" || st.Count == 0 {
			return "n/a"
		}
		return fmt.Sprintf("mean %s, P95 %s, max %s %s", number(st.Mean*scale, prec), number(st.P95*scale, prec), number(st.Max*scale, prec), unit)
	}
	for _, s := range g.GPUs {
		line("- GPU %d (%s): utilization %s; memory %s; power %s", s.Index, s.Name,
			stat(s.UtilizationPct, 1, "%", 1), stat(s.MemoryUsedBytes, 1.0/(1<<30), "GiB", 1), stat(s.PowerWatts, 1, "W", 0))
	}
	if e := g.EnergyPerOutputTokenJ; e.OK() {
		line("- Energy: %s J, %s J per output token", number(g.EnergyJoules.Value, 1), number(e.Value, 4))
	} else {
		line("- Energy per output token: n/a (%s)", e.Missing)
	}
	if g.Incomplete != "" {
		line("- Incomplete: %s", g.Incomplete)
	}
}

// stepsText is the simulators' self-check for the validity line: the
// judged server with the largest share of late steps.
func stepsText(c []SimulatorCheck) string {
	if len(c) == 0 {
		return ""
	}
	worst := c[0]
	for _, s := range c[1:] {
		if s.LateFraction > worst.LateFraction {
			worst = s
		}
	}
	return fmt.Sprintf("; simulated %s: %s%% of %d steps over %s ms late",
		cmp.Or(worst.Server, worst.URL), number(100*worst.LateFraction, 2), worst.Steps, number(worst.LateMS, 0))
}
