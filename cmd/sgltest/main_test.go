package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds sgltest once per test into a temporary directory, so
// that every process it starts can be recognised by its executable path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sgltest")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeFeature(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.feature")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// quickScenario lasts about 4 s: a simulator's self-check allows 1% of its
// engine steps to be late, and a shorter run has too few steps for one
// late step on a busy host to stay under it.
const quickScenario = `Feature: quick
  Scenario: a short load
    Given a simulated SGLang server with max running requests 16
    When 80 random prompts with 32 input and 8 output tokens arrive at 20 requests per second
    Then all requests succeed
    %s
`

func TestBinaryExitCodes(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		name     string
		feature  string
		args     []string
		wantFail bool
		wantOut  []string
	}{
		{
			name:    "a passing scenario exits 0 and writes a run directory",
			feature: strings.Replace(quickScenario, "%s", "And the request throughput is at least 1 req/s", 1),
		},
		{
			name:     "an impossible throughput bound fails and prints the measured value and run",
			feature:  strings.Replace(quickScenario, "%s", "And the request throughput is at least 1000 req/s", 1),
			wantFail: true,
			wantOut:  []string{"request throughput is ", "expected at least 1000 req/s", "(run: "},
		},
		{
			name: "a client starved by a rate beyond the machine fails as invalid, naming its lag",
			feature: `Feature: starved
  Scenario: a rate beyond the machine
    Given a simulated SGLang server with max running requests 64
    And the load generator's p99 schedule lag may be at most 1 ms
    When 3000 random prompts with 16 input and 2 output tokens arrive at 100000 requests per second
    Then all requests succeed
`,
			wantFail: true,
			wantOut:  []string{"invalid run", "p99 schedule lag", "exceeds 1ms"},
		},
		{
			name:     "a misspelled step fails",
			feature:  strings.Replace(quickScenario, "%s", "And the request thruput is at least 1 req/s", 1),
			wantFail: true,
			wantOut:  []string{"undefined step"},
		},
		{
			name:     "a tag filter that matches nothing fails",
			feature:  strings.Replace(quickScenario, "%s", "", 1),
			args:     []string{"-t", "@nothing-has-this-tag"},
			wantFail: true,
			wantOut:  []string{"no scenario ran"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.args...), writeFeature(t, tc.feature))
			reports := t.TempDir()
			cmd := exec.Command(bin, args...)
			// A wall-clock run on a busy host can be invalid (the client or a
			// simulator fell behind), which says nothing of the scenario: it
			// is run again, as CI would.
			cmd.Env = append(os.Environ(), "SGLTEST_REPORTS="+reports, "SGLTEST_INVALID_RERUNS=2")
			outb, err := cmd.CombinedOutput()
			out := string(outb)
			var exit *exec.ExitError
			failed := errors.As(err, &exit)
			if err != nil && !failed {
				t.Fatalf("running sgltest: %v", err)
			}
			if failed != tc.wantFail {
				t.Fatalf("exit error %v, want failure %v; output:\n%s", err, tc.wantFail, out)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if !tc.wantFail {
				runs, _ := filepath.Glob(filepath.Join(reports, "*", "summary.json"))
				if tries := strings.Count(out, "running it again") + 1; len(runs) != tries {
					t.Errorf("want one run directory with a summary.json per try (%d), found %v", tries, runs)
				}
			}
		})
	}
}

// processesOf lists the pids whose executable path is bin.
func processesOf(bin string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == bin {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestInterruptLeavesNoChildProcess(t *testing.T) {
	bin := buildBinary(t)
	reports := t.TempDir()
	feature := writeFeature(t, `Feature: long
  Scenario: a load long enough to interrupt
    Given a simulated SGLang server with max running requests 8
    When 2000 random prompts with 64 input and 32 output tokens arrive at 20 requests per second
    Then all requests succeed

  Scenario: a second scenario that must not start
    Given a simulated SGLang server with max running requests 8
    When 20 random prompts with 64 input and 32 output tokens arrive at 20 requests per second
    Then all requests succeed

  Scenario: a third one
    Given a simulated SGLang server with max running requests 8
    When 20 random prompts with 64 input and 32 output tokens arrive at 20 requests per second
    Then all requests succeed
`)
	cmd := exec.Command(bin, feature)
	cmd.Env = append(os.Environ(), "SGLTEST_REPORTS="+reports)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once requests are being measured: the simulator is up and
	// requests.jsonl has lines.
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(reports, "*", "requests.jsonl"))
		if len(files) == 1 {
			if b, _ := os.ReadFile(files[0]); bytes.Count(b, []byte("\n")) >= 5 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no measured requests within 60 s; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(processesOf(bin)); n < 2 {
		t.Fatalf("want sgltest and its simulator child running, found %d processes", n)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("an interrupted run exited with %v, want 130; output:\n%s", err, out.String())
	}
	// The simulator child must be gone by the time sgltest has exited; allow
	// the kernel a moment to reap it.
	for i := 0; i < 50 && len(processesOf(bin)) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if left := processesOf(bin); len(left) > 0 {
		t.Fatalf("processes left behind after SIGINT: %v", left)
	}
	// What was measured before the interrupt is kept, and no later
	// scenario started (one run directory only).
	files, _ := filepath.Glob(filepath.Join(reports, "*", "summary.json"))
	if len(files) != 1 {
		t.Errorf("want one run directory with a summary.json, found %v; output:\n%s", files, out.String())
	} else if b, _ := os.ReadFile(files[0]); !bytes.Contains(b, []byte(`"interrupted": true`)) || !bytes.Contains(b, []byte(`"verdict": "interrupted"`)) {
		t.Errorf("summary.json does not say the run was interrupted:\n%s", b)
	}
}

// startLongRun starts sgltest on a feature and returns once requests are
// being measured, with the command and its output buffer.
func startLongRun(t *testing.T, bin, feature string) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	reports := t.TempDir()
	cmd := exec.Command(bin, writeFeature(t, feature))
	cmd.Env = append(os.Environ(), "SGLTEST_REPORTS="+reports)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(reports, "*", "requests.jsonl"))
		if len(files) == 1 {
			if b, _ := os.ReadFile(files[0]); bytes.Count(b, []byte("\n")) >= 5 {
				return cmd, &out, reports
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no measured requests within 60 s; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// simulatorOf returns the pid of the one simulator child of cmd.
func simulatorOf(t *testing.T, bin string, cmd *exec.Cmd) int {
	t.Helper()
	for _, p := range processesOf(bin) {
		if pid, _ := strconv.Atoi(p); pid != cmd.Process.Pid {
			return pid
		}
	}
	t.Fatal("no simulator child found")
	return 0
}

const longRun = `Feature: long
  Scenario: a load long enough to break
    Given a simulated SGLang server with max running requests 16
    And a server that does not answer for 2 s has stalled
    When 1200 random prompts with 64 input and 16 output tokens arrive at 20 requests per second
    Then all requests succeed
`

func TestUnplannedFaultsStopTheRunAtOnceNamingTheServerAndTime(t *testing.T) {
	bin := buildBinary(t)
	tests := []struct {
		name   string
		signal syscall.Signal
		want   []string
	}{
		{"a server that dies", syscall.SIGKILL, []string{"the run stopped early: server-1 exited at", "when nothing planned it: signal: killed"}},
		{"a server that stops answering", syscall.SIGSTOP, []string{"the run stopped early: server-1 stopped answering at", "no /metrics answer for 2s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, out, reports := startLongRun(t, bin, longRun)
			began := time.Now()
			if err := syscall.Kill(simulatorOf(t, bin, cmd), tc.signal); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1 (a failed scenario); output:\n%s", err, out.String())
			}
			// A 60 s run must not play out: the fault stops it within seconds.
			if took := time.Since(began); took > 30*time.Second {
				t.Errorf("the run went on %v after the fault", took)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if left := processesOf(bin); len(left) > 0 {
				t.Errorf("processes left behind: %v", left)
			}
			files, _ := filepath.Glob(filepath.Join(reports, "*", "summary.json"))
			if len(files) != 1 {
				t.Fatalf("no summary.json")
			}
			b, _ := os.ReadFile(files[0])
			for _, w := range []string{`"verdict": "fail"`, `"stopped": "server-1`} {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("summary.json lacks %s", w)
				}
			}
			if !bytes.Contains(b, []byte(`"requests_jsonl_lines"`)) || bytes.Contains(b, []byte(`"error": "accounting`)) {
				t.Errorf("accounting does not add up:\n%s", b)
			}
		})
	}
}

func TestARunningDeploymentIsMeasuredWithoutLaunchingAnything(t *testing.T) {
	bin := buildBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// A simulator started by hand, as a staging server would be.
	sim := exec.Command(bin, "sim", "--model-path", "m", "--port", strconv.Itoa(port), "--enable-metrics")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the hand-started simulator never became healthy")
		}
	}
	reports := t.TempDir()
	run := func(body string) (string, error) {
		cmd := exec.Command(bin, writeFeature(t, body))
		cmd.Env = append(os.Environ(), "SGLTEST_REPORTS="+reports, "STAGING_URL="+url, "SGLTEST_INVALID_RERUNS=2")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(`Feature: staging
  Scenario: a staging server under a short load
    Given the SGLang deployment at "${STAGING_URL}"
    When 80 random prompts with 32 input and 8 output tokens arrive at 20 requests per second
    Then all requests succeed
    And the max running requests is at least 1
`)
	if err != nil {
		t.Fatalf("the run failed: %v\n%s", err, out)
	}
	for _, w := range []string{"server-1 started: already running", "Routing: the deployment at " + url} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if sim.ProcessState != nil {
		t.Error("the hand-started simulator was stopped")
	}
	out, err = run(`Feature: staging faults
  Scenario: a fault on a deployment sgltest did not start
    Given the SGLang deployment at "${STAGING_URL}"
    When server 1 is killed after 1 s
    And 20 random prompts with 32 input and 8 output tokens arrive at 20 requests per second
    Then all requests succeed
`)
	if err == nil || !strings.Contains(out, "is not sgltest's to kill, pause or restart") {
		t.Errorf("a fault on a deployment was not refused: %v\n%s", err, out)
	}
}

func TestUsageErrorsExitTwoAndSayWhy(t *testing.T) {
	bin := buildBinary(t)
	feature := writeFeature(t, strings.Replace(quickScenario, "%s", "", 1))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", feature}, "unknown flag: --bogus"},
		{[]string{"-t", "((&&", feature}, "cannot be parsed"},
		{[]string{"-t", "@a and @b", feature}, "write and as &&"},
		{[]string{"no-such.feature"}, "no such file"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), "SGLTEST_REPORTS="+t.TempDir())
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: exit %v, output %q; want 2 and %q", tc.args, err, out, tc.want)
		}
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sgltest ") {
		t.Errorf("--version: %v %q", err, out)
	}
	out, err = exec.Command(bin, "help").CombinedOutput()
	for _, w := range []string{"sgltest lint", "SGLTEST_REPORTS", "Exit codes:", "130"} {
		if err != nil || !strings.Contains(string(out), w) {
			t.Errorf("help lacks %q (%v)", w, err)
		}
	}
}

func TestARunTheHostCouldNotMeasureIsRunAgainAndJudgedOnItsLastTry(t *testing.T) {
	bin := buildBinary(t)
	// A rate far beyond the machine with a 1 ms lag bound: every try is
	// invalid because the client fell behind, the host's fault.
	feature := writeFeature(t, `Feature: starved
  Scenario: a rate beyond the machine
    Given a simulated SGLang server with max running requests 64
    And the load generator's p99 schedule lag may be at most 1 ms
    When 3000 random prompts with 16 input and 2 output tokens arrive at 100000 requests per second
    Then all requests succeed
`)
	tests := []struct {
		name     string
		args     []string
		wantRuns int
		wantOut  []string
		notOut   []string
	}{
		{name: "without reruns one try is made", wantRuns: 1, notOut: []string{"running it again"}},
		{name: "with two reruns three tries are made, each in its own run directory", args: []string{"--invalid-reruns", "2"}, wantRuns: 3,
			wantOut: []string{"running it again (rerun 1 of 2, SGLTEST_INVALID_RERUNS) after a 5s pause", "running it again (rerun 2 of 2, SGLTEST_INVALID_RERUNS) after a 10s pause", "p99 schedule lag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reports := t.TempDir()
			code, out := runBin(t, bin, []string{"SGLTEST_REPORTS=" + reports, "SGLTEST_INVALID_RERUNS="}, append(tc.args, feature)...)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d (invalid); output:\n%s", code, exitInvalid, out)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			runs, _ := filepath.Glob(filepath.Join(reports, "*", "summary.json"))
			if len(runs) != tc.wantRuns {
				t.Errorf("%d run directories, want %d: %v", len(runs), tc.wantRuns, runs)
			}
			if lines := verdictLines(t, out); len(lines) != 1 {
				t.Errorf("%d verdict lines, want one for the scenario: %+v", len(lines), lines)
			}
		})
	}
}
