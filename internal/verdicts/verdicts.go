package verdicts

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every verdict line printed to stdout, so CI can grep it out
// of the rest of the output.
const Prefix = "SGLTEST-VERDICT "

// File is the name of the verdicts file in the reports root.
const File = "verdicts.jsonl"

// The scenario verdicts.
const (
	Pass        = "pass"
	Fail        = "fail"
	Invalid     = "invalid"
	Interrupted = "interrupted"
)

// Line is one scenario's verdict.
type Line struct {
	Scenario string `json:"scenario"`
	// Feature is the feature file the scenario is in.
	Feature string `json:"feature,omitempty"`
	// Verdict is Pass, Fail, Invalid or Interrupted.
	Verdict string `json:"verdict"`
	// Gate is the worst verdict of the scenario's comparisons with its
	// baseline ("pass", "inconclusive", "regression"); empty when it made
	// none.
	Gate string `json:"gate,omitempty"`
	// Run is the scenario's last run directory, or the directory of its
	// last set of repeats.
	Run string `json:"run,omitempty"`
	// Runs lists every run directory of the scenario, when there are
	// several.
	Runs []string `json:"runs,omitempty"`
	// Reason is the first line of why the scenario did not pass.
	Reason string `json:"reason,omitempty"`
	// Time is when the scenario ended (wall clock, UTC, for people).
	Time time.Time `json:"time"`
}

// String is the line as printed: Prefix and the JSON object, no newline.
func (l Line) String() string {
	b, err := json.Marshal(l)
	if err != nil {
		// Every field is a string, a slice of strings or a time: this
		// cannot fail.
		panic(fmt.Sprintf("verdicts: %v", err))
	}
	return Prefix + string(b)
}

// Append adds l as one line to the file at path, creating it if needed.
// The line is written with a single write to a file opened for appending,
// under an exclusive advisory lock where the system has one, so lines of
// several processes sharing the file never interleave or overwrite each
// other.
func Append(path string, l Line) (err error) {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("verdicts: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("verdicts: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("verdicts: %w", cerr)
		}
	}()
	unlock, err := lock(f)
	if err != nil {
		return fmt.Errorf("verdicts: locking %s: %w", path, err)
	}
	defer unlock()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("verdicts: %w", err)
	}
	return nil
}

// Read returns every line of the verdicts file at path, oldest first; the
// error names the line that is not a verdict.
func Read(path string) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verdicts: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l Line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return nil, fmt.Errorf("verdicts: %s line %d: %w", path, n, err)
		}
		if l.Scenario == "" || l.Verdict == "" {
			return nil, fmt.Errorf("verdicts: %s line %d: scenario or verdict is missing", path, n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("verdicts: %s: %w", path, err)
	}
	return out, nil
}

// Latest returns the last verdict of scenario in lines.
func Latest(lines []Line, scenario string) (Line, error) {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].Scenario == scenario {
			return lines[i], nil
		}
	}
	return Line{}, errors.New("no verdict for scenario " + strconv.Quote(scenario))
}
