package steps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sgltest/sgltest/runner"
)

// Fragments shared by patterns, defined once.
const (
	count  = `(\d+)`
	number = `(\d+(?:\.\d+)?)`
	// duration is a number and a unit, with or without a space: 10 s, 500ms.
	duration = `(\d+(?:\.\d+)?) ?(ms|s|sec|seconds?|min|minutes?)`
	// cmpare is a comparison in words or symbols.
	cmpare = `(below|at most|above|at least|<=|>=|<|>|≤|≥)`
	// stat is a statistic: mean, median, min, max, std or a percentile.
	stat = `(mean|average|median|min|max|peak|std|[Pp]\d+(?:\.\d+)?)`
	// server names one server of the scenario, or the router.
	target = `(server \d+|the router)`
)

// step is one sentence: its pattern, what it means, an example, and what
// running it does. Given and When sentences have fn, called by godog with
// the captured groups converted to its parameter types; Then sentences
// have judge, called with the groups as written (so that a failing check
// can judge the checks after it too, see runJudge).
type step struct {
	kind    string // Given, When or Then: documents intent
	pattern string
	doc     string
	example string
	// also are more examples, for "did you mean" suggestions.
	also  []string
	fn    any
	judge func(ctx context.Context, st runner.Step, args []string) error
}

// sentences is the whole vocabulary, in the order VOCABULARY.md lists it.
var sentences = concat(givens, pdGivens, whens, workloads, thens, comparisons, capacitySentences, gates)

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// compiled holds the patterns, compiled once.
var compiled = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(sentences))
	for i, s := range sentences {
		out[i] = regexp.MustCompile(s.pattern)
	}
	return out
}()

// matching returns the indexes of the sentences that match text.
func matching(text string) []int {
	var out []int
	for i, re := range compiled {
		if re.MatchString(text) {
			out = append(out, i)
		}
	}
	return out
}

// match returns how many sentences match text.
func match(text string) int { return len(matching(text)) }

// judgeFunc builds the function godog calls for judge sentence i: a
// context and one string per captured group.
func judgeFunc(i int) any {
	n := compiled[i].NumSubexp()
	in := []reflect.Type{reflect.TypeFor[context.Context]()}
	for range n {
		in = append(in, reflect.TypeFor[string]())
	}
	ft := reflect.FuncOf(in, []reflect.Type{reflect.TypeFor[error]()}, false)
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		ctx := args[0].Interface().(context.Context)
		groups := make([]string, n)
		for k := range groups {
			groups[k] = args[k+1].String()
		}
		err := runJudge(ctx, i, groups)
		ev := reflect.Zero(reflect.TypeFor[error]())
		if err != nil {
			ev = reflect.ValueOf(&err).Elem()
		}
		return []reflect.Value{ev}
	}).Interface()
}

// runJudge runs judge sentence i. When it fails, the Then sentences that
// follow it are judged too, so that one run reports every broken
// expectation (each lands in summary.json) while the scenario still fails:
// godog then skips those steps, whose verdicts are already recorded.
func runJudge(ctx context.Context, i int, groups []string) error {
	w := world(ctx)
	if err := w.test.SendPending(ctx); err != nil {
		return err
	}
	cur := currentStep(ctx)
	err := sentences[i].judge(ctx, w.step(cur), groups)
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, next := range w.after(cur) {
		ix := matching(next.Text)
		if len(ix) != 1 || sentences[ix[0]].judge == nil {
			break
		}
		g := compiled[ix[0]].FindStringSubmatch(next.Text)[1:]
		if e := sentences[ix[0]].judge(ctx, w.step(next), g); e != nil {
			errs = append(errs, fmt.Errorf("%s: %w", next.Text, e))
		}
	}
	if len(errs) == 1 {
		return err
	}
	lines := make([]string, len(errs))
	for k, e := range errs {
		lines[k] = "  - " + e.Error()
	}
	return fmt.Errorf("%d expectations failed:\n%s", len(errs), strings.Join(lines, "\n"))
}

// parseRate reads a rate in requests per second, or "inf".
func parseRate(s string) (float64, error) {
	if s == "inf" {
		return math.Inf(1), nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("rate %q: expected a positive number of requests per second", s)
	}
	return r, nil
}

// parseDuration reads a number and a unit as duration captures them.
func parseDuration(v, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("duration %s %s: expected a non-negative number", v, unit)
	}
	scale := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "sec": time.Second,
		"second": time.Second, "seconds": time.Second, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute}[unit]
	if scale == 0 {
		return 0, fmt.Errorf("duration unit %q: expected ms, s or min", unit)
	}
	return time.Duration(f * float64(scale)), nil
}

// targetName turns "server 2" or "the router" into the plan's name.
func targetName(s string) string {
	if s == "the router" {
		return runner.RouterTarget
	}
	return strings.Replace(s, "server ", "server-", 1)
}

// serverSettings reads the settings a server sentence lists after
// "with": "max running requests 64 and tensor parallel size 2, chunked
// prefill size 4096, schedule policy lpm, mem fraction 0.85".
func serverSettings(s string) (runner.Server, error) {
	var srv runner.Server
	if strings.TrimSpace(s) == "" {
		return srv, nil
	}
	for _, item := range regexp.MustCompile(`,\s*(?:and\s+)?|\s+and\s+`).Split(s, -1) {
		item = strings.TrimSpace(item)
		m := settingPattern.FindStringSubmatch(item)
		if m == nil {
			return srv, fmt.Errorf("server setting %q: expected max running requests N, tensor parallel size N, chunked prefill size N, schedule policy NAME, mem fraction F, data parallel size N or load balance method NAME", item)
		}
		var err error
		switch m[1] {
		case "max running requests":
			srv.MaxRunningRequests, err = positive(m[2])
		case "tensor parallel size":
			srv.TPSize, err = positive(m[2])
		case "chunked prefill size":
			srv.ChunkedPrefillSize, err = strconv.Atoi(m[2])
			if err == nil && srv.ChunkedPrefillSize == 0 {
				err = errors.New("0: expected a positive size, or -1 to disable chunking")
			}
		case "schedule policy":
			srv.SchedulePolicy = m[2]
		case "data parallel size":
			srv.DPSize, err = positive(m[2])
		case "load balance method":
			srv.LoadBalanceMethod = m[2]
		case "mem fraction":
			srv.MemFractionStatic, err = strconv.ParseFloat(m[2], 64)
			if err == nil && !(srv.MemFractionStatic > 0 && srv.MemFractionStatic < 1) {
				err = errors.New("expected a fraction between 0 and 1")
			}
		}
		if err != nil {
			return srv, fmt.Errorf("server setting %q: %w", item, err)
		}
	}
	return srv, nil
}

var settingPattern = regexp.MustCompile(`^(max running requests|tensor parallel size|chunked prefill size|schedule policy|mem fraction|data parallel size|load balance method) (-?[\w.]+)$`)

// settings is the pattern fragment serverSettings reads.
const settings = `((?:max running requests|tensor parallel size|chunked prefill size|schedule policy|mem fraction|data parallel size|load balance method) [-\w.]+(?:(?:, (?:and )?| and )(?:max running requests|tensor parallel size|chunked prefill size|schedule policy|mem fraction|data parallel size|load balance method) [-\w.]+)*)`

func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: expected a positive whole number", s)
	}
	return n, nil
}
