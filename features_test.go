// Package sgltest_test runs the scenarios in features/ under go test, and
// exports the two initializers that `godog run` looks for in this directory.
package sgltest_test

import (
	"flag"
	"os"
	"sync"
	"testing"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/router"
	"github.com/sgltest/sgltest/steps"
)

var opts = steps.Options("features")

func init() {
	godog.BindFlags("godog.", flag.CommandLine, &opts)
}

// InitializeTestSuite is found by `godog run`; it forwards to steps, after
// registering the custom routing policy features/custom_policy.feature uses.
func InitializeTestSuite(ts *godog.TestSuiteContext) {
	registerOnce.Do(func() {
		if err := router.Register("first_two_only", func(router.Options) (router.Policy, error) { return &firstTwoOnly{}, nil }); err != nil {
			panic(err)
		}
	})
	steps.InitializeTestSuite(ts)
}

var registerOnce sync.Once

// firstTwoOnly is a custom routing policy written as a user would write
// one (see router/example_test.go for the template): it alternates between
// the first two servers and never uses the others, so its choices are
// plain in the per-server counts.
type firstTwoOnly struct{ n int }

func (p *firstTwoOnly) Pick(_ router.Request, workers []router.Worker) (int, error) {
	i := p.n % min(2, len(workers))
	p.n++
	return i, nil
}

// InitializeScenario is found by `godog run`; it forwards to steps.
func InitializeScenario(sc *godog.ScenarioContext) { steps.InitializeScenario(sc) }

// TestFeatures runs every scenario (narrow with -godog.tags or
// `-args features/x.feature`), each as a subtest.
func TestFeatures(t *testing.T) {
	o := opts
	o.Strict = true
	o.NoColors = true
	o.TestingT = t
	o.Output = steps.WithoutSnippets(os.Stdout)
	if args := flag.Args(); len(args) > 0 {
		o.Paths = args
	}
	status := godog.TestSuite{
		Name:                 "sgltest",
		TestSuiteInitializer: InitializeTestSuite,
		ScenarioInitializer:  InitializeScenario,
		Options:              &o,
	}.Run()
	if status != 0 {
		t.Fatalf("scenarios failed (godog status %d)", status)
	}
}
