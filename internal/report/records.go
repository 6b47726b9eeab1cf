package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sgltest/sgltest/internal/metrics"
)

// RecordWriter appends Records to a JSON Lines file, one object per line.
// Each line is handed to the operating system in one write before Write
// returns, with nothing buffered in the process, so a run that is killed
// leaves every line it finished readable. It is safe for concurrent use;
// concurrent lines never interleave.
type RecordWriter struct {
	mu     sync.Mutex
	f      *os.File
	closed bool
	lines  int64
	size   int64 // bytes of whole lines written
	err    error // the first failed write; later writes fail at once
}

// CreateRecords creates the JSON Lines file path (it must not exist) and
// returns a RecordWriter appending to it. Run.Requests calls it for
// requests.jsonl.
func CreateRecords(path string) (*RecordWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &RecordWriter{f: f}, nil
}

// Write appends rec as one line. Its method value fits load.Sink.
func (w *RecordWriter) Write(rec metrics.Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("report: encoding record %d: %w", rec.Index, err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("report: writing record %d to %s: %w", rec.Index, w.f.Name(), os.ErrClosed)
	}
	if w.err != nil {
		return fmt.Errorf("report: record %d not written: %w", rec.Index, w.err)
	}
	if n, err := w.f.Write(b); err != nil {
		// A full disk may take part of the line: cut the file back to the
		// last whole line, so that no reader ever sees a torn one.
		if n > 0 {
			err = errors.Join(err, w.f.Truncate(w.size))
		}
		w.err = fmt.Errorf("writing %s: %w", w.f.Name(), err)
		return fmt.Errorf("report: record %d: %w", rec.Index, w.err)
	}
	w.lines++
	w.size += int64(len(b))
	return nil
}

// Lines is the number of whole lines written.
func (w *RecordWriter) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Close closes the file. Later calls to Close do nothing and return nil;
// later calls to Write fail.
func (w *RecordWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// ReadRecords reads a JSON Lines file of Records, such as requests.jsonl,
// in file order. Blank lines are skipped. At the first malformed line
// (for example the last line of a killed run, cut short) it returns the
// records before that line and an error of the form "PATH:LINE: reason".
func ReadRecords(path string) ([]metrics.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	var recs []metrics.Record
	rd := bufio.NewReader(f) // no line length limit, unlike bufio.Scanner
	for n := 1; ; n++ {
		line, err := rd.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return recs, fmt.Errorf("report: %s:%d: %w", path, n, err)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var rec metrics.Record
			if uerr := json.Unmarshal(trimmed, &rec); uerr != nil {
				return recs, fmt.Errorf("report: %s:%d: malformed record: %w", path, n, uerr)
			}
			recs = append(recs, rec)
		}
		if err != nil { // io.EOF
			return recs, nil
		}
	}
}
