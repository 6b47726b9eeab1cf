package steps

import (
	"context"
	"errors"
	"fmt"
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

// scenarioWorld is one scenario's state: its test and the settings steps
// accumulate before load runs.
type scenarioWorld struct {
	test *runner.Test
}

// DefaultSeed seeds a scenario that names no seed.
const DefaultSeed = 1

func world(ctx context.Context) *scenarioWorld { return ctx.Value(worldKey{}).(*scenarioWorld) }
func test(ctx context.Context) *runner.Test    { return world(ctx).test }

// InitializeScenario is godog's scenario initializer: it registers every
// sentence and the hooks that give each scenario a fresh test.
func InitializeScenario(sc *godog.ScenarioContext) {
	for _, s := range sentences {
		sc.Step(s.pattern, s.fn)
	}
	sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
		if suite == nil {
			return ctx, errors.New("the suite was not initialised: InitializeTestSuite must be registered")
		}
		// Undefined or ambiguous sentences fail the scenario here, whatever
		// godog's Strict option says (godog run defaults it to off).
		var bad []string
		for _, st := range p.Steps {
			switch match(st.Text) {
			case 1:
			case 0:
				bad = append(bad, fmt.Sprintf("undefined step %q", st.Text))
			default:
				bad = append(bad, fmt.Sprintf("ambiguous step %q", st.Text))
			}
		}
		if len(bad) > 0 {
			return ctx, fmt.Errorf("%s (see steps/VOCABULARY.md for every sentence)", strings.Join(bad, "; "))
		}
		t := suite.NewTest(p.Name)
		t.SetSeed(DefaultSeed)
		return context.WithValue(ctx, worldKey{}, &scenarioWorld{test: t}), nil
	})
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (_ context.Context, afterErr error) {
		// A panic in an After hook kills godog's worker; never let one escape.
		defer func() {
			if r := recover(); r != nil {
				afterErr = fmt.Errorf("teardown panicked: %v", r)
			}
		}()
		w, ok := ctx.Value(worldKey{}).(*scenarioWorld)
		if !ok {
			return ctx, nil
		}
		return ctx, w.test.Close()
	})
}

// Options returns the godog options every entry point starts from: Strict
// always, and the given paths.
func Options(paths ...string) godog.Options {
	return godog.Options{Strict: true, Paths: paths, Format: "pretty", Concurrency: 1}
}
