package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/runner"
)

// suite is the one suite of this process. godog's entry points take no
// suite argument, so the two initializers share it here; scenarios run one
// at a time (performance scenarios must not compete for the machine).
var suite *runner.Suite

// InitializeTestSuite is godog's suite initializer, used by all three ways
// of running scenarios.
func InitializeTestSuite(ts *godog.TestSuiteContext) {
	ts.BeforeSuite(func() {
		s, err := runner.NewSuite()
		if err != nil {
			fatal(err)
		}
		suite = s
	})
	ts.AfterSuite(func() {
		if suite == nil {
			return
		}
		defer suite.Close()
		outcome = suite.Outcome()
		// godog has no way for a hook to fail the run, and a run that
		// executed nothing must never pass a gate: exit here.
		if err := suite.Finish(); err != nil {
			suite.Close()
			fatal(err)
		}
	})
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sgltest:", err)
	os.Exit(1)
}

type worldKey struct{}
type stepKey struct{}

// scenarioWorld is one scenario's state: its test, the scenario as godog
// runs it, and where each of its steps is written.
type scenarioWorld struct {
	test   *runner.Test
	pickle *godog.Scenario
	where  map[string]string // step id -> file:line
}

// step names a step for the summary: its text and where it is written.
func (w *scenarioWorld) step(st *godog.Step) runner.Step {
	if st == nil {
		return runner.Step{}
	}
	return runner.Step{Text: st.Text, Where: w.where[st.Id]}
}

// after returns the scenario's steps that follow st.
func (w *scenarioWorld) after(st *godog.Step) []*godog.Step {
	for i, s := range w.pickle.Steps {
		if st != nil && s.Id == st.Id {
			return w.pickle.Steps[i+1:]
		}
	}
	return nil
}

// DefaultSeed seeds a scenario that names no seed.
const DefaultSeed = 1

func world(ctx context.Context) *scenarioWorld { return ctx.Value(worldKey{}).(*scenarioWorld) }
func test(ctx context.Context) *runner.Test    { return world(ctx).test }

// currentStep is the step being run, as the step hook saw it.
func currentStep(ctx context.Context) *godog.Step {
	st, _ := ctx.Value(stepKey{}).(*godog.Step)
	return st
}

// InitializeScenario is godog's scenario initializer: it registers every
// sentence and the hooks that give each scenario a fresh test.
func InitializeScenario(sc *godog.ScenarioContext) {
	for i, s := range sentences {
		if s.judge != nil {
			sc.Step(s.pattern, judgeFunc(i))
			continue
		}
		sc.Step(s.pattern, s.fn)
	}
	sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
		if suite == nil {
			return ctx, errors.New("the suite was not initialised: InitializeTestSuite must be registered")
		}
		if suite.Interrupted() {
			// Start nothing more, and let no report count it as passed.
			return ctx, errors.New("not run: the suite was interrupted")
		}
		// A skipped scenario does not count as run: a suite that skips them
		// all fails as having run none.
		if hasTag(p, RouterTag) {
			if err := suite.RouterInstalled(); err != nil {
				if os.Getenv(EnvRequireRouter) != "" {
					return ctx, fmt.Errorf("%v (%s is set: scenarios tagged %s must run)", err, EnvRequireRouter, RouterTag)
				}
				fmt.Fprintf(os.Stderr, "sgltest: skipping %q: %v (set %s=1 to make this a failure)\n", p.Name, err, EnvRequireRouter)
				return ctx, godog.ErrSkip
			}
		}
		t := suite.NewTest(p.Name)
		w := &scenarioWorld{test: t, pickle: p, where: locate(p)}
		// Undefined or ambiguous sentences fail the scenario here, at their
		// own lines and with the closest sentences, whatever godog's Strict
		// option says (godog run defaults it to off).
		var bad []string
		for _, st := range p.Steps {
			if msg := checkStep(st.Text, w.where[st.Id]); msg != "" {
				bad = append(bad, msg)
			}
		}
		if len(bad) > 0 {
			return ctx, fmt.Errorf("%s\n(every sentence is in steps/VOCABULARY.md; `sgltest vocabulary` prints them, `sgltest lint` checks files)", strings.Join(bad, "\n"))
		}
		t.SetSeed(DefaultSeed)
		return context.WithValue(ctx, worldKey{}, w), nil
	})
	sc.StepContext().Before(func(ctx context.Context, st *godog.Step) (context.Context, error) {
		return context.WithValue(ctx, stepKey{}, st), nil
	})
	sc.After(func(ctx context.Context, p *godog.Scenario, err error) (_ context.Context, afterErr error) {
		// A panic in an After hook kills godog's worker; never let one escape.
		defer func() {
			if r := recover(); r != nil {
				afterErr = fmt.Errorf("teardown panicked: %v", r)
			}
		}()
		w, ok := ctx.Value(worldKey{}).(*scenarioWorld)
		if !ok {
			return ctx, concludeUnstarted(p, err)
		}
		closeErr := w.test.Close()
		ctx, ciErr := concludeScenario(ctx, w, err)
		return ctx, errors.Join(closeErr, ciErr)
	})
}

// Options returns the godog options every entry point starts from: Strict
// always, and the given paths.
func Options(paths ...string) godog.Options {
	return godog.Options{Strict: true, Paths: paths, Format: "pretty", Concurrency: 1}
}

// outcome is the suite's outcome, kept when the suite closes.
var outcome runner.Outcome

// Result is how the last suite went beyond godog's status: how many runs
// were invalid, whether a signal stopped it. The sgltest binary turns it
// into its exit code.
func Result() runner.Outcome { return outcome }

// WithoutSnippets passes godog's output to w but drops the Go snippets it
// prints for undefined steps: a QA engineer gets the undefined sentence at
// its line with the closest sentences instead (see InitializeScenario).
func WithoutSnippets(w io.Writer) io.Writer { return &snippetFilter{w: w} }

type snippetFilter struct {
	w       io.Writer
	line    []byte
	dropped bool
}

const snippetHeader = "You can implement step definitions for undefined steps with these snippets"

func (f *snippetFilter) Write(p []byte) (int, error) {
	for _, c := range p {
		f.line = append(f.line, c)
		if c != '\n' {
			continue
		}
		if strings.Contains(string(f.line), snippetHeader) {
			f.dropped = true
		}
		if !f.dropped {
			if _, err := f.w.Write(f.line); err != nil {
				return 0, err
			}
		}
		f.line = f.line[:0]
	}
	return len(p), nil
}

// RouterTag marks the scenarios that run the real router, which needs its
// virtual environments (make venv).
const RouterTag = "@router"

// EnvRequireRouter, when set, makes a scenario tagged RouterTag fail rather
// than skip when the router is not installed (make test sets it).
const EnvRequireRouter = "SGLTEST_REQUIRE_ROUTER"

func hasTag(p *godog.Scenario, tag string) bool {
	for _, t := range p.Tags {
		if t.Name == tag {
			return true
		}
	}
	return false
}
