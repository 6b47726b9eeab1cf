package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sgltest/sgltest/internal/export"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// The tables of a run directory, each as NAME.csv and NAME.parquet with
// the columns of package export's row types.
const (
	RequestsTable = "requests" // export.Request, from requests.jsonl
	ServersTable  = "servers"  // export.ServerSample: every scrape of every server
	GPUTable      = "gpu"      // export.GPUSample: every GPU sample
	EventsTable   = "events"   // export.Event, from events.jsonl
)

// writeTables writes the run's four tables. The requests are read back
// from requests.jsonl, one line at a time, so a long run's requests are
// never all in memory.
func (r *Recorder) writeTables(evs []timeline.Event, series [][]ServerPoint, gpu []telemetry.GPU) error {
	names, roles := r.plan.Names(), r.plan.Roles()
	return errors.Join(
		writeTable(r.run, RequestsTable, func(w *export.Writer[export.Request]) error {
			return eachRecord(r.run.Path(RequestsFile), func(rec metrics.Record) error { return w.Write(export.RequestOf(rec)) })
		}),
		writeTable(r.run, ServersTable, func(w *export.Writer[export.ServerSample]) error {
			for i, ser := range series {
				for _, p := range ser {
					err := w.Write(export.ServerSample{AtS: p.At.Seconds(), Server: names[i], Role: roles[i], Running: int64(p.Running),
						Queued: int64(p.Queued), UsedTokens: int64(p.UsedTokens), TokenUsage: float64(p.TokenUsage),
						CacheHitRate: float64(p.CacheHitRate), GenThroughput: float64(p.GenTputs)})
					if err != nil {
						return err
					}
				}
			}
			return nil
		}),
		writeTable(r.run, GPUTable, func(w *export.Writer[export.GPUSample]) error {
			for _, g := range gpu {
				if err := w.Write(export.GPUSampleOf(g)); err != nil {
					return err
				}
			}
			return nil
		}),
		writeTable(r.run, EventsTable, func(w *export.Writer[export.Event]) error {
			for _, e := range evs {
				if err := w.Write(export.EventOf(e)); err != nil {
					return err
				}
			}
			return nil
		}),
	)
}

// writeTable writes name.csv and name.parquet in run, each whole or not at
// all (temporary files renamed into place once both are complete).
func writeTable[T any](run *Run, name string, rows func(*export.Writer[T]) error) (err error) {
	paths := []string{run.Path(name + ".csv"), run.Path(name + ".parquet")}
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close() // closed and checked already on success, or being discarded
			if err != nil {
				_ = os.Remove(f.Name())
			}
		}
		if err != nil {
			err = fmt.Errorf("report: writing %s.csv and %s.parquet: %w", name, name, err)
		}
	}()
	for _, p := range paths {
		f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*.tmp")
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	bc, bp := bufio.NewWriter(files[0]), bufio.NewWriter(files[1])
	w, err := export.NewWriter[T](bc, bp)
	if err != nil {
		return err
	}
	if err := rows(w); err != nil {
		return err
	}
	if err := errors.Join(w.Close(), bc.Flush(), bp.Flush()); err != nil {
		return err
	}
	for i, f := range files {
		if err := f.Chmod(0o644); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), paths[i]); err != nil {
			return err
		}
	}
	return nil
}

// eachRecord calls fn with each record of a JSON Lines file, in order,
// without holding them all; a malformed line is an error naming it.
func eachRecord(path string, fn func(metrics.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only
	rd := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := rd.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			var rec metrics.Record
			if uerr := json.Unmarshal(trimmed, &rec); uerr != nil {
				return fmt.Errorf("%s:%d: malformed record: %w", path, n, uerr)
			}
			if ferr := fn(rec); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return nil
		}
	}
}
