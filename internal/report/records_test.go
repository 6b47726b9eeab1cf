package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
)

const ms1 = time.Millisecond

// randomRecords makes n plausible records from rng: some streamed, some
// failed, some warmup.
func randomRecords(rng *rand.Rand, n int) []metrics.Record {
	recs := make([]metrics.Record, n)
	for i := range recs {
		arrival := time.Duration(rng.IntN(3000)) * ms1
		sent := arrival + time.Duration(rng.IntN(80))*ms1
		first := sent + time.Duration(5+rng.IntN(120))*ms1
		done := first + time.Duration(rng.IntN(900))*ms1
		r := metrics.Record{
			Index: i, RID: fmt.Sprintf("sgltest-%d", i), Target: "http://127.0.0.1:30000",
			InputTokens: 1 + rng.IntN(1000), RequestedOutputTokens: 64, OutputTokens: 1 + rng.IntN(64),
			CachedTokens: rng.IntN(10),
			Scheduled:    arrival - time.Duration(rng.IntN(3))*time.Microsecond,
			Arrival:      arrival, Sent: sent, FirstToken: first, Done: done, Status: 200,
		}
		if rng.IntN(3) > 0 {
			r.Chunks = []metrics.Chunk{{At: first, Tokens: 1}, {At: (first + done) / 2, Tokens: r.OutputTokens / 2}, {At: done, Tokens: 1}}
		}
		switch rng.IntN(20) {
		case 0:
			r.Status, r.Error, r.FirstToken, r.Chunks = 503, "HTTP 503: server overloaded", 0, nil
		case 1:
			r.Warmup = true
		}
		recs[i] = r
	}
	return recs
}

func newRun(t *testing.T) *Run {
	t.Helper()
	r, err := Create(t.TempDir(), "20261123-195501-node-moderate-poisson")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordsReadBackEqualToWhatWasWritten(t *testing.T) {
	for _, n := range []int{0, 1, 200} {
		t.Run(fmt.Sprintf("%d records", n), func(t *testing.T) {
			run := newRun(t)
			want := randomRecords(rand.New(rand.NewPCG(1, uint64(n))), n)
			w, err := run.Requests()
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range want {
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := ReadRecords(run.Path(RequestsFile))
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				want = nil
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("records mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordWriterKeepsLinesWholeUnderConcurrentWriters(t *testing.T) {
	run := newRun(t)
	want := randomRecords(rand.New(rand.NewPCG(2, 2)), 400)
	w, err := run.Requests()
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for g := range writers {
		wg.Go(func() {
			for i := g; i < len(want); i += writers {
				if err := w.Write(want[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecords(run.Path(RequestsFile))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b metrics.Record) int { return cmp.Compare(a.Index, b.Index) })
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
}

func TestRecordLinesAreOnDiskBeforeClose(t *testing.T) {
	run := newRun(t)
	want := randomRecords(rand.New(rand.NewPCG(3, 3)), 3)
	w, err := run.Requests()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, rec := range want {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		// Read with a separate file handle, as another process would.
		got, err := ReadRecords(run.Path(RequestsFile))
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(want[:i+1], got); diff != "" {
			t.Errorf("after %d writes, file holds (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestReadRecordsNamesFileAndLineOfAMalformedLine(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(4, 4)), 3)
	var lines []string
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	tests := []struct {
		name     string
		content  string
		wantLine int
		wantRecs int // records returned with the error
	}{
		{
			name:     "last line cut short by a killed run",
			content:  lines[0] + "\n" + lines[1] + "\n" + lines[2][:len(lines[2])/2],
			wantLine: 3, wantRecs: 2,
		},
		{
			name:     "garbage in the middle",
			content:  lines[0] + "\n" + "not json\n" + lines[2] + "\n",
			wantLine: 2, wantRecs: 1,
		},
		{
			name:     "blank lines still count",
			content:  lines[0] + "\n\n" + `{"index": "x"}` + "\n",
			wantLine: 3, wantRecs: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), RequestsFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadRecords(path)
			want := fmt.Sprintf("%s:%d:", path, tc.wantLine)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("ReadRecords error = %v, want one containing %q", err, want)
			}
			if diff := gocmp.Diff(recs[:tc.wantRecs], got); diff != "" {
				t.Errorf("records before the bad line (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadRecordsAcceptsBlankLinesAndAMissingFinalNewline(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(5, 5)), 2)
	a, _ := json.Marshal(recs[0])
	b, _ := json.Marshal(recs[1])
	path := filepath.Join(t.TempDir(), RequestsFile)
	if err := os.WriteFile(path, []byte("\n"+string(a)+"\n\n"+string(b)), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(recs, got); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
}

func TestRecordWriterRefusesWritesAfterCloseAndASecondFile(t *testing.T) {
	run := newRun(t)
	w, err := run.Requests()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := w.Write(metrics.Record{}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if _, err := run.Requests(); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Requests = %v, want os.ErrExist", err)
	}
}
