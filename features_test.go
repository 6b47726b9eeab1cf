// Package sgltest_test runs the scenarios in features/ under go test, and
// exports the two initializers that `godog run` looks for in this directory.
package sgltest_test

import (
	"flag"
	"testing"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/steps"
)

var opts = steps.Options("features")

func init() {
	godog.BindFlags("godog.", flag.CommandLine, &opts)
}

// InitializeTestSuite is found by `godog run`; it forwards to steps.
func InitializeTestSuite(ts *godog.TestSuiteContext) { steps.InitializeTestSuite(ts) }

// InitializeScenario is found by `godog run`; it forwards to steps.
func InitializeScenario(sc *godog.ScenarioContext) { steps.InitializeScenario(sc) }

// TestFeatures runs every scenario (narrow with -godog.tags or
// `-args features/x.feature`), each as a subtest.
func TestFeatures(t *testing.T) {
	o := opts
	o.Strict = true
	o.NoColors = true
	o.TestingT = t
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
