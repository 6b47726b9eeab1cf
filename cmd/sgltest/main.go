package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/cucumber/godog"
	"github.com/sirupsen/logrus"
	logrusslog "github.com/sirupsen/logrus/hooks/slog"
	flag "github.com/spf13/pflag"

	"github.com/sgltest/sgltest/internal/live"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/runner"
	"github.com/sgltest/sgltest/steps"
)

// Exit codes, documented in usage and the README.
const (
	exitPass        = 0
	exitFail        = 1
	exitUsage       = 2
	exitInvalid     = 3
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sim":
			return sim(args[1:], stderr)
		case "lint":
			return lint(args[1:], stdout, stderr)
		case "gpu-check":
			return gpuCheck(args[1:], stdout, stderr)
		case "baseline":
			return baselineCmd(args[1:], stdout, stderr)
		case "compare":
			return compareCmd(args[1:], stdout, stderr)
		case "vocabulary", "vocab":
			fmt.Fprint(stdout, steps.Vocabulary())
			return exitPass
		case "version", "--version", "-v":
			fmt.Fprintln(stdout, "sgltest", version())
			return exitPass
		case "help", "-h", "--help":
			usage(stdout)
			return exitPass
		case "run":
			args = args[1:]
		}
	}
	return scenarios(args, stdout, stderr)
}

// version is the module version the binary was built from, with the VCS
// revision when the build recorded one.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `sgltest tells you how fast an SGLang deployment really is.

Usage:
  sgltest [run] [flags] [paths...]   run the scenarios of feature files (default path: features)
  sgltest lint [paths...]            check feature files without running anything
  sgltest vocabulary                 print every sentence a scenario may use (steps/VOCABULARY.md)
  sgltest sim [SGLang flags]         serve the SGLang simulator (sgltest sim -h for its flags)
  sgltest gpu-check [flags]          sample every GPU through NVML for a few seconds and print every figure
  sgltest baseline save [--dir D] RUN_OR_SCENARIO...
                                     bless runs as their scenarios' baselines in baselines/ (runs, repeats
                                     directories, or scenario names looked up in reports/verdicts.jsonl)
  sgltest baseline show [--dir D] [SCENARIO|FILE...]
                                     print the blessed baselines
  sgltest compare [flags] A B        B against A figure by figure (A: a baselines file, run or repeats
                                     directory; B: a run or repeats directory), with overlaid charts;
                                     exit 1 when a figure regressed (flags: --tolerance 10, --alpha 0.05,
                                     --any-setup, --all, --out DIR)
  sgltest version                    print the version
  sgltest help                       this text

Flags of run:
  -t, --tags EXPR           run the scenarios whose tags match (godog syntax: @a && ~@b, @a,@b)
  -f, --format FORMATS      godog formatters: pretty (default), progress, junit:FILE, cucumber:FILE, ...
      --max-schedule-lag D  bound on the load generator's p99 schedule lag and hand-off for every scenario (e.g. 50ms)
      --max-cpu-busy F      bound on sgltest's CPU use, a fraction of its cores (e.g. 0.98)
      --max-late-steps F    bound on a simulated server's steps more than 5ms late, a fraction (default 0.01)
      --invalid-reruns N    run again, up to N times, a run invalid only because the host was too busy (default 0)
      --godog-help          every godog flag

Environment:
  %-26s where run directories go (default %s)
  %-26s sim (the embedded simulator, default) or sglang (real SGLang on GPUs)
  %-26s the model to serve (--model-path); needed with SGLTEST_BACKEND=sglang
  %-26s GPU ids for servers, e.g. 0,1,2,3 (server i gets the i-th)
  %-26s the Python with sglang installed (default %s)
  %-26s the simulator's profile, a name or a .json path (default %s)
  %-26s the directory holding the router venvs (default %s; make venv)
  %-26s the sgltest binary whose sim command is the simulator (default: this one)
  %-26s as --max-schedule-lag
  %-26s as --max-cpu-busy
  %-26s as --max-late-steps
  %-26s as --invalid-reruns
  %-26s how long a server may take to answer /health after launch (default 10m with SGLang, 30s simulated)
  %-26s auto (default), terminal, plain or off: the live progress line on stderr
  %-26s how often the plain progress line prints (default 10s)
  %-26s host:port: serve the live figures as Prometheus metrics there during runs
  %-26s 1: a @router scenario fails, rather than skips, when the router venvs are missing
  %-26s the baselines directory (default %s)
  %-26s 1: rerun an inconclusive comparison with the baseline once (default 0)
  %-26s pass (default) or fail: what an inconclusive comparison does to its step
  %-26s what a scenario attaches for cucumber reports: charts (default), text or none

Reports: each run writes reports/<time>-<scenario>/ with config.json, requests.jsonl, events.jsonl,
summary.json (the CI contract: verdict, validity, bounds), summary.txt, report.html (open it in a
browser), servers.csv, routing.json, charts, fingerprint.json and logs; reports/index.html lists every run; see reports/README.md. A repeated load also writes
reports/<time>-<scenario>-repeats/. Every scenario prints one line "SGLTEST-VERDICT {json}" and
appends it to reports/verdicts.jsonl. For CI: -f pretty,junit:reports/junit.xml,cucumber:reports/cucumber.json

Exit codes:
  0    every scenario passed
  1    a scenario failed: a bound was not met, a step failed, a sentence is undefined, or none ran
  2    usage error: a bad flag, setting or path
  3    a run was invalid: its figures would measure the client (a run that stopped early fails: 1)
  130  interrupted (Ctrl-C: the running scenario ends cleanly; a second Ctrl-C stops at once)
`, runner.EnvReports, runner.DefaultReports, runner.EnvBackend, runner.EnvModel, runner.EnvGPUs, runner.EnvPython,
		runner.DefaultPython, runner.EnvSimProfile, runner.DefaultSimProfile, runner.EnvVenv, runner.DefaultVenv,
		runner.EnvBinary, runner.EnvMaxScheduleLag, runner.EnvMaxCPUBusy, runner.EnvMaxLateSteps, runner.EnvInvalidReruns, runner.EnvReadyTimeout, live.EnvProgress,
		live.EnvProgressInterval, live.EnvPrometheus, steps.EnvRequireRouter, runner.EnvBaselines, runner.DefaultBaselines,
		runner.EnvGateRerun, runner.EnvGateInconclusive, runner.EnvAttach)
}

func scenarios(args []string, stdout, stderr io.Writer) (code int) {
	opts := steps.Options()
	fs := flag.NewFlagSet("sgltest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	godog.BindCommandLineFlags("", &opts)
	fs.AddFlagSet(flag.CommandLine)
	help := fs.Bool("godog-help", false, "list the godog flags")
	lag := fs.String("max-schedule-lag", "", "bound on the load generator's p99 schedule lag and hand-off for every scenario, e.g. 50ms (same as "+runner.EnvMaxScheduleLag+")")
	cpu := fs.String("max-cpu-busy", "", "bound on sgltest's CPU use as a fraction of its cores, e.g. 0.98 (same as "+runner.EnvMaxCPUBusy+")")
	reruns := fs.String("invalid-reruns", "", "how many times to run again a run the host was too busy to measure, e.g. 2 (same as "+runner.EnvInvalidReruns+")")
	late := fs.String("max-late-steps", "", "bound on the fraction of a simulated server's engine steps more than 5ms late, e.g. 0.02 (same as "+runner.EnvMaxLateSteps+")")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "sgltest: %v\n(sgltest help lists the commands and flags)\n", err)
		return exitUsage
	}
	if *help {
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitPass
	}
	// The flags are the environment variables under another name: the suite
	// reads its settings from the environment whichever way it is run.
	for env, v := range map[string]string{runner.EnvMaxScheduleLag: *lag, runner.EnvMaxCPUBusy: *cpu, runner.EnvMaxLateSteps: *late, runner.EnvInvalidReruns: *reruns} {
		if v != "" {
			if err := os.Setenv(env, v); err != nil {
				fmt.Fprintln(stderr, "sgltest:", err)
				return exitUsage
			}
		}
	}
	set, err := runner.SettingsFromEnv()
	if err == nil {
		err = set.CheckReports()
	}
	if err != nil {
		fmt.Fprintln(stderr, "sgltest:", err)
		return exitUsage
	}
	opts.Strict = true // a CI gate must not pass on undefined or pending steps
	opts.Output = steps.WithoutSnippets(stdout)
	if !isTerminal(stdout) {
		opts.NoColors = true // colour codes are noise in files and CI logs
	}
	opts.Paths = fs.Args()
	if len(opts.Paths) == 0 {
		opts.Paths = []string{"features"}
	}
	for _, p := range opts.Paths {
		if _, err := os.Stat(strings.SplitN(p, ":", 2)[0]); err != nil {
			fmt.Fprintln(stderr, "sgltest:", err)
			return exitUsage
		}
	}
	for _, word := range []string{" and ", " or ", "not "} {
		if strings.Contains(" "+opts.Tags+" ", word) {
			fmt.Fprintf(stderr, "sgltest: the tag expression %q uses %q, which godog reads as a tag name: write and as &&, or as a comma, not as ~ (e.g. '@smoke && ~@slow')\n", opts.Tags, strings.TrimSpace(word))
			return exitUsage
		}
	}
	runner.UseSelfAsBinary()
	defer func() {
		// godog panics on some malformed tag expressions; say what was wrong.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "sgltest: the tag expression %q cannot be parsed (%v): godog writes and as &&, or as a comma, not as ~, e.g. '@smoke && ~@slow'\n", opts.Tags, r)
			code = exitUsage
		}
	}()
	status := godog.TestSuite{
		Name:                 "sgltest",
		TestSuiteInitializer: steps.InitializeTestSuite,
		ScenarioInitializer:  steps.InitializeScenario,
		Options:              &opts,
	}.Run()
	out := steps.Result()
	switch {
	case out.Interrupted:
		return exitInterrupted
	case status == 2:
		return exitUsage
	case status != 0 && out.Invalid > 0:
		return exitInvalid
	case status != 0:
		return exitFail
	}
	return exitPass
}

func lint(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"features"}
	}
	problems, err := steps.Lint(args)
	if err != nil {
		fmt.Fprintln(stderr, "sgltest lint:", err)
		return exitUsage
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%d problem(s); every sentence is listed by `sgltest vocabulary`\n", len(problems))
		return exitFail
	}
	fmt.Fprintln(stdout, "ok: every step matches exactly one sentence")
	return exitPass
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
		return exitFail
	}
	return exitPass
}

func gpuCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sgltest gpu-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ids := fs.IntSlice("gpus", nil, "NVML indices of the GPUs to check (default: every GPU)")
	dur := fs.Duration("duration", 5*time.Second, "how long to sample")
	every := fs.Duration("interval", telemetry.DefaultInterval, "how often to sample")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if err := telemetry.Check(context.Background(), stdout, *ids, *dur, *every); err != nil {
		fmt.Fprintln(stderr, "sgltest gpu-check:", err)
		return exitFail
	}
	return exitPass
}
