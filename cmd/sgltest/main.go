// Command sgltest runs sgltest's scenarios with no Go toolchain needed, and
// serves the SGLang simulator:
//
//	sgltest [godog flags] [features/x.feature ...]   run scenarios (default: features/)
//	sgltest sim --model-path M --port N [...]        serve the simulator
//	sgltest help                                     this text
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cucumber/godog"
	"github.com/sirupsen/logrus"
	logrusslog "github.com/sirupsen/logrus/hooks/slog"
	flag "github.com/spf13/pflag"

	"log/slog"

	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/runner"
	"github.com/sgltest/sgltest/steps"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sim":
			return sim(args[1:], stderr)
		case "help", "-h", "--help":
			usage(stdout)
			return 0
		}
	}
	return scenarios(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  sgltest [godog flags] [paths...]   run scenarios (default path: features)
  sgltest sim [SGLang flags]         serve the SGLang simulator
Run "sgltest --godog-help" for the godog flags (tags, formats, ...).
`)
}

func scenarios(args []string, stdout, stderr io.Writer) int {
	opts := steps.Options()
	fs := flag.NewFlagSet("sgltest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	godog.BindCommandLineFlags("", &opts)
	fs.AddFlagSet(flag.CommandLine)
	help := fs.Bool("godog-help", false, "list the godog flags")
	lag := fs.String("max-schedule-lag", "", "bound on the load generator's p99 schedule lag for every scenario, e.g. 50ms (same as "+runner.EnvMaxScheduleLag+")")
	cpu := fs.String("max-cpu-busy", "", "bound on sgltest's CPU use as a fraction of its cores, e.g. 0.98 (same as "+runner.EnvMaxCPUBusy+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *help {
		fs.PrintDefaults()
		return 0
	}
	// The flags are the environment variables under another name: the suite
	// reads its settings from the environment whichever way it is run.
	for env, v := range map[string]string{runner.EnvMaxScheduleLag: *lag, runner.EnvMaxCPUBusy: *cpu} {
		if v != "" {
			os.Setenv(env, v)
		}
	}
	if _, err := runner.SettingsFromEnv(); err != nil {
		fmt.Fprintln(stderr, "sgltest:", err)
		return 2
	}
	opts.Strict = true // a CI gate must not pass on undefined or pending steps
	opts.Output = stdout
	if !isTerminal(stdout) {
		opts.NoColors = true // colour codes are noise in files and CI logs
	}
	opts.Paths = fs.Args()
	if len(opts.Paths) == 0 {
		opts.Paths = []string{"features"}
	}
	runner.UseSelfAsBinary()
	return godog.TestSuite{
		Name:                 "sgltest",
		TestSuiteInitializer: steps.InitializeTestSuite,
		ScenarioInitializer:  steps.InitializeScenario,
		Options:              &opts,
	}.Run()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func sim(args []string, stderr io.Writer) int {
	lr := logrus.New()
	lr.SetOutput(stderr)
	lr.SetFormatter(&logrus.JSONFormatter{})
	log := slog.New(logrusslog.NewHandler(lr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := simulator.Main(ctx, args, stderr, log); err != nil {
		fmt.Fprintln(stderr, "sgltest sim:", err)
		return 1
	}
	return 0
}
