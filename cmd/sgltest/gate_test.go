package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sgltest/sgltest/internal/baseline"
	"github.com/sgltest/sgltest/internal/verdicts"
)

// runBin runs the binary with env added, and returns its exit code and
// output (stdout and stderr together).
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("running sgltest: %v", err)
	return 0, ""
}

// verdictLines returns the verdict lines printed in out.
func verdictLines(t *testing.T, out string) []verdicts.Line {
	t.Helper()
	var lines []verdicts.Line
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, verdicts.Prefix)
		if !ok {
			continue
		}
		var v verdicts.Line
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			t.Fatalf("verdict line %q: %v", l, err)
		}
		lines = append(lines, v)
	}
	return lines
}

const virtualScenario = `Feature: exit codes
  Scenario: a short load in virtual time
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests 16
    When 50 random prompts with 32 input and 8 output tokens arrive at 50 requests per second
    Then all requests succeed
    %s
`

func TestExitCodesAndVerdictLinesHoldForEveryOutcome(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		name        string
		feature     string
		args, env   []string
		wantCode    int
		wantVerdict string // "" when no scenario runs
		wantOut     string
	}{
		{name: "every scenario passed", feature: strings.Replace(virtualScenario, "%s", "And the request throughput is at least 1 req/s", 1),
			wantCode: exitPass, wantVerdict: verdicts.Pass},
		{name: "a bound was not met", feature: strings.Replace(virtualScenario, "%s", "And the request throughput is at least 1000 req/s", 1),
			wantCode: exitFail, wantVerdict: verdicts.Fail, wantOut: "expected at least 1000 req/s"},
		{name: "a misspelled sentence", feature: strings.Replace(virtualScenario, "%s", "And the request thruput is at least 1 req/s", 1),
			wantCode: exitFail, wantVerdict: verdicts.Fail, wantOut: "undefined step"},
		{name: "a bad flag", feature: strings.Replace(virtualScenario, "%s", "", 1), args: []string{"--no-such-flag"}, wantCode: exitUsage},
		{name: "a bad gate setting", feature: strings.Replace(virtualScenario, "%s", "", 1), env: []string{"SGLTEST_GATE_RERUN=yes"},
			wantCode: exitUsage, wantOut: "SGLTEST_GATE_RERUN"},
		{name: "a formatter file that cannot be created", feature: strings.Replace(virtualScenario, "%s", "", 1),
			args: []string{"-f", "junit:/nonexistent-dir/junit.xml"}, wantCode: exitUsage},
		{name: "a client starved by a rate beyond the machine makes the run invalid", feature: `Feature: starved
  Scenario: a rate beyond the machine
    Given a simulated SGLang server with max running requests 64
    And the load generator's p99 schedule lag may be at most 1 ms
    When 3000 random prompts with 16 input and 2 output tokens arrive at 100000 requests per second
    Then all requests succeed
`, wantCode: exitInvalid, wantVerdict: verdicts.Invalid, wantOut: "exceeds 1ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports := t.TempDir()
			args := append(append([]string{}, tc.args...), writeFeature(t, tc.feature))
			code, out := runBin(t, bin, append([]string{"SGLTEST_REPORTS=" + reports}, tc.env...), args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
			lines := verdictLines(t, out)
			if tc.wantVerdict == "" {
				if len(lines) != 0 {
					t.Errorf("verdict lines %+v, want none", lines)
				}
				return
			}
			if len(lines) != 1 || lines[0].Verdict != tc.wantVerdict || lines[0].Scenario == "" {
				t.Fatalf("verdict lines %+v, want one %q", lines, tc.wantVerdict)
			}
			stored, err := verdicts.Read(filepath.Join(reports, verdicts.File))
			if err != nil || len(stored) != 1 || stored[0].Verdict != tc.wantVerdict || stored[0].Run != lines[0].Run {
				t.Errorf("verdicts.jsonl %+v (%v), want the printed line", stored, err)
			}
		})
	}
	t.Run("a signal interrupts the run", func(t *testing.T) {
		cmd, out, reports := startLongRun(t, bin, longRun)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
			t.Fatalf("exit %v, want %d; output:\n%s", err, exitInterrupted, out)
		}
		lines := verdictLines(t, out.String())
		if len(lines) != 1 || lines[0].Verdict != verdicts.Interrupted {
			t.Errorf("verdict lines %+v, want one %q", lines, verdicts.Interrupted)
		}
		if stored, err := verdicts.Read(filepath.Join(reports, verdicts.File)); err != nil || len(stored) != 1 {
			t.Errorf("verdicts.jsonl: %+v, %v", stored, err)
		}
	})
}

// gatedScenario is one scenario gated on its baseline, its server's
// max running requests left to fill in.
const gatedScenario = `Feature: gated
  Scenario: a gated load
    Given the simulation runs in virtual time
    And a simulated SGLang server with max running requests %s
    And the load is repeated 5 times, each with its own seed
    When 300 random prompts with 128 to 1024 input and 16 to 128 output tokens arrive at 10 requests per second
    Then all requests succeed
    And the median TTFT is no worse than the baseline by more than 10%%
    And the output token throughput is no lower than the baseline by more than 50%%
`

func TestBaselineSaveBlessesARunThatTheGateThenHoldsOtherRunsTo(t *testing.T) {
	bin := buildBinary(t)
	work := t.TempDir()
	reports, baselines := filepath.Join(work, "reports"), filepath.Join(work, "baselines")
	env := []string{"SGLTEST_REPORTS=" + reports, "SGLTEST_BASELINES=" + baselines}
	feature := func(maxRunning string) string {
		p := filepath.Join(work, "gated-"+maxRunning+".feature")
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(strings.Replace(gatedScenario, "%s", maxRunning, 1), "%%", "%")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	usual, starved := feature("64"), feature("4")
	cucumber := filepath.Join(work, "cucumber.json")

	// No baseline yet: the gate fails and says how to bless one.
	code, out := runBin(t, bin, env, usual)
	if code != exitFail || !strings.Contains(out, "sgltest baseline save") {
		t.Fatalf("without a baseline: exit %d, want %d and the command that blesses one:\n%s", code, exitFail, out)
	}
	first := verdictLines(t, out)
	if len(first) != 1 || !strings.HasSuffix(first[0].Run, "-repeats") || len(first[0].Runs) != 5 {
		t.Fatalf("verdict %+v, want the repeats directory and 5 runs", first)
	}

	// Bless it by the scenario's name.
	code, out = runBin(t, bin, env, "baseline", "save", "a gated load")
	path := filepath.Join(baselines, "a-gated-load.json")
	if code != exitPass || !strings.Contains(out, "saved the baseline") {
		t.Fatalf("baseline save: exit %d:\n%s", code, out)
	}
	f, err := baseline.Read(path)
	if err != nil || len(f.Baselines) != 1 || f.Baselines[0].Repeats != 5 || len(f.Baselines[0].Seeds) != 5 {
		t.Fatalf("%s: %+v, %v", path, f, err)
	}
	if fp := f.Baselines[0].Fingerprint; fp.Clock != "virtual" || fp.SimProfile != "llama-3.1-8b-h100" || fp.CPUModel != "" {
		t.Errorf("fingerprint %+v", fp)
	}

	// The same load passes its baseline, and the cucumber report embeds
	// its summaries, comparisons and charts.
	code, out = runBin(t, bin, env, "-f", "progress,cucumber:"+cucumber, usual)
	if code != exitPass || !strings.Contains(out, "gate: median TTFT passes") {
		t.Fatalf("the blessed load again: exit %d:\n%s", code, out)
	}
	assertAttachments(t, cucumber)
	again := verdictLines(t, out)[0]

	// Four running requests at a time: requests queue and TTFT regresses.
	code, out = runBin(t, bin, env, starved)
	if code != exitFail || !strings.Contains(out, "median TTFT regressed") {
		t.Fatalf("a starved server: exit %d, want %d and a regression:\n%s", code, exitFail, out)
	}
	regressed := verdictLines(t, out)[0]
	if regressed.Verdict != verdicts.Fail || regressed.Gate != "regression" {
		t.Errorf("verdict %+v, want fail with gate regression", regressed)
	}

	// Another simulator profile is another set-up: refused, naming it.
	code, out = runBin(t, bin, append(env, "SGLTEST_SIM_PROFILE=llama-3.1-8b-a100"), usual)
	if code != exitFail || !strings.Contains(out, `sim_profile: baseline "llama-3.1-8b-h100", this run "llama-3.1-8b-a100"`) {
		t.Fatalf("another profile: exit %d, want a refusal naming sim_profile:\n%s", code, out)
	}
	otherSetUp := verdictLines(t, out)[0]

	// compare: the baseline against the starved load is a regression, with
	// the table and the charts written.
	outDir := filepath.Join(work, "cmp")
	code, out = runBin(t, bin, env, "compare", "--out", outDir, path, regressed.Run)
	if code != exitFail || !strings.Contains(out, "regression") || !strings.Contains(out, "overall: regression") {
		t.Fatalf("compare baseline starved: exit %d:\n%s", code, out)
	}
	for _, name := range []string{compareText, compareJSON, "cdf_ttft.png", "cdf_itl.png", "cdf_e2e_latency.png", "throughput_over_time.png"} {
		if st, err := os.Stat(filepath.Join(outDir, name)); err != nil || st.Size() == 0 {
			t.Errorf("compare wrote no %s: %v", name, err)
		}
	}
	// Two runs of the same load: no regression.
	code, out = runBin(t, bin, env, "compare", first[0].Run, again.Run)
	if code != exitPass || !strings.Contains(out, "written to "+filepath.Dir(again.Run)) {
		t.Errorf("compare of two sets of the same load: exit %d:\n%s", code, out)
	}
	// Across set-ups only when asked to.
	code, out = runBin(t, bin, env, "compare", again.Run, otherSetUp.Run)
	if code != exitUsage || !strings.Contains(out, "different set-ups") || !strings.Contains(out, "sim_profile") {
		t.Errorf("compare across set-ups: exit %d, want %d naming sim_profile:\n%s", code, exitUsage, out)
	}
	code, out = runBin(t, bin, env, "compare", "--any-setup", again.Run, otherSetUp.Run)
	if (code != exitPass && code != exitFail) || !strings.Contains(out, "note: A and B ran under different set-ups") {
		t.Errorf("compare --any-setup: exit %d:\n%s", code, out)
	}

	// Saving runs of two set-ups as one baseline is refused.
	code, out = runBin(t, bin, env, "baseline", "save", again.Runs[0], otherSetUp.Runs[0])
	if code != exitUsage || !strings.Contains(out, "different set-ups") {
		t.Errorf("saving two set-ups as one baseline: exit %d:\n%s", code, out)
	}
	code, out = runBin(t, bin, env, "baseline", "show")
	if code != exitPass || !strings.Contains(out, `"a gated load", 1 set-up(s)`) {
		t.Errorf("baseline show: exit %d:\n%s", code, out)
	}
}

// assertAttachments checks that the cucumber report embeds the scenario's
// summaries and charts.
func assertAttachments(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var features []struct {
		Elements []struct {
			Steps []struct {
				Embeddings []struct {
					Name     string `json:"name"`
					MimeType string `json:"mime_type"`
				} `json:"embeddings"`
			} `json:"steps"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(b, &features); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range features {
		for _, e := range f.Elements {
			for _, s := range e.Steps {
				for _, em := range s.Embeddings {
					names = append(names, em.Name+" "+em.MimeType)
				}
			}
		}
	}
	all := strings.Join(names, "\n")
	for _, w := range []string{"repeat 1: summary.txt text/plain", "repeat 5: summary.txt text/plain", "repeats.txt text/plain",
		"gate.txt text/plain", "cdf_ttft.png image/png", "latency_histogram.png image/png"} {
		if !strings.Contains(all, w) {
			t.Errorf("the cucumber report embeds no %q:\n%s", w, all)
		}
	}
}
