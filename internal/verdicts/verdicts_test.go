package verdicts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStringIsThePrefixAndOneJSONObject(t *testing.T) {
	l := Line{Scenario: "a load", Feature: "features/x.feature", Verdict: Fail, Gate: "regression",
		Run: "reports/r", Reason: "P99 TTFT regressed", Time: time.Date(2026, 11, 23, 19, 55, 31, 0, time.UTC)}
	s := l.String()
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok || strings.Contains(s, "\n") {
		t.Fatalf("%q: want the prefix and one line", s)
	}
	var back Line
	if err := json.Unmarshal([]byte(rest), &back); err != nil {
		t.Fatal(err)
	}
	if back.Scenario != l.Scenario || back.Verdict != l.Verdict || back.Gate != l.Gate || !back.Time.Equal(l.Time) {
		t.Errorf("round trip gave %+v, want %+v", back, l)
	}
}

// TestAppendKeepsEveryLineWholeWhenProcessesShareTheFile appends from
// several processes at once (this test binary re-executed), each line long
// enough that a torn or interleaved write would show, and reads them back.
func TestAppendKeepsEveryLineWholeWhenProcessesShareTheFile(t *testing.T) {
	if os.Getenv("VERDICTS_CHILD") != "" {
		return
	}
	path := filepath.Join(t.TempDir(), File)
	const procs, per = 4, 200
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildAppends$")
			cmd.Env = append(os.Environ(), "VERDICTS_CHILD="+strconv.Itoa(p), "VERDICTS_PATH="+path, "VERDICTS_N="+strconv.Itoa(per))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[p] = fmt.Errorf("child %d: %v\n%s", p, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	lines, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != procs*per {
		t.Fatalf("%d lines, want %d", len(lines), procs*per)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.Scenario] {
			t.Fatalf("line %q twice", l.Scenario)
		}
		seen[l.Scenario] = true
		if len(l.Reason) != 3000 {
			t.Fatalf("line %q has a reason of %d bytes, want 3000", l.Scenario, len(l.Reason))
		}
	}
}

// TestChildAppends is the child of the test above; it does nothing unless
// started by it.
func TestChildAppends(t *testing.T) {
	p := os.Getenv("VERDICTS_CHILD")
	if p == "" {
		t.Skip("run by TestAppendKeepsEveryLineWholeWhenProcessesShareTheFile")
	}
	n, _ := strconv.Atoi(os.Getenv("VERDICTS_N"))
	for i := range n {
		l := Line{Scenario: fmt.Sprintf("process %s line %d", p, i), Verdict: Pass, Reason: strings.Repeat(p, 3000), Time: time.Now()}
		if err := Append(os.Getenv("VERDICTS_PATH"), l); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadNamesTheLineThatIsNotAVerdict(t *testing.T) {
	path := filepath.Join(t.TempDir(), File)
	if err := Append(path, Line{Scenario: "a", Verdict: Pass}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{\"scenario\": \"b\"\n")
	f.Close()
	_, err := Read(path)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err %v, want one naming line 2", err)
	}
}

func TestLatestFindsTheLastVerdictOfTheScenario(t *testing.T) {
	lines := []Line{{Scenario: "a", Run: "r1"}, {Scenario: "b", Run: "r2"}, {Scenario: "a", Run: "r3"}}
	if l, err := Latest(lines, "a"); err != nil || l.Run != "r3" {
		t.Errorf("Latest(a) = %+v, %v; want r3", l, err)
	}
	if _, err := Latest(lines, "c"); err == nil {
		t.Error("Latest(c) found a verdict")
	}
}
