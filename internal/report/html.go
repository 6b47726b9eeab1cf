package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
)

// More file names: the run's page, and the suite's index beside the runs.
const (
	HTMLFile  = "report.html"
	IndexFile = "index.html"
)

//go:embed report.html.tmpl
var reportTemplate string

//go:embed index.html.tmpl
var indexTemplate string

var (
	funcs = template.FuncMap{
		"num":     func(v float64, prec int) string { return number(v, prec) },
		"int":     func(v int) string { return number(float64(v), 0) },
		"fig":     figureText,
		"ms":      func(d metrics.Distribution, v float64) string { return msText(d, v) },
		"pct":     func(v float64) string { return number(100*v, 1) + "%" },
		"secs":    func(d time.Duration) string { return number(d.Seconds(), 3) },
		"stat":    statText,
		"reading": readingText,
		"gib":     func(v float64) float64 { return v / (1 << 30) },
		"argv":    shellJoin,
		"href":    func(name string) string { return (&url.URL{Path: name}).String() },
		"size":    sizeText,
		"finite":  finite,
		"hitRate": func(w metrics.WorkerShare) string {
			if h, ok := w.CacheHitRate(); ok {
				return number(100*h, 1) + "%"
			}
			return "n/a"
		},
	}
	reportPage = template.Must(template.New(HTMLFile).Funcs(funcs).Parse(reportTemplate))
	indexPage  = template.Must(template.New(IndexFile).Funcs(funcs).Parse(indexTemplate))
)

// page is what report.html shows.
type page struct {
	*Result
	Scenario, Label, Started string
	Launched                 []Launched
	Config                   string // config.json, indented
	ConfigErr                string
	Charts                   []pageChart
	Distributions            []pageDist
	Files                    []pageFile
	Bounds                   []Bound
}

type pageChart struct {
	ChartFile
	Src template.URL // the PNG as a data: URL
	Err string
}

type pageDist struct {
	Name string
	D    metrics.Distribution
}

type pageFile struct {
	Name string
	Size int64
}

// WriteHTML writes report.html for res: everything about the run on one
// self-contained page (the charts embedded as PNG data, no script, nothing
// fetched), then regenerates the suite's index.html beside the run
// directory. Both are written whole or not at all.
func WriteHTML(res *Result) error {
	pg := page{Result: res, Bounds: res.File.Bounds}
	s := res.File.Summary
	pg.Distributions = []pageDist{{"Server latency (sent → done)", s.ServerLatencyMS}, {"Total latency (arrived → done)", s.TotalLatencyMS},
		{"Queue time (arrived → sent)", s.QueueTimeMS}, {"TTFT", s.TTFTMS}, {"ITL (per token)", s.ITLMS},
		{"ITL (per chunk)", s.ITLPerChunkMS}, {"TPOT", s.TPOTMS}, {"E2E latency", s.E2ELatencyMS},
		{"Schedule lag (client)", s.ScheduleLagMS}, {"Send lag (client)", s.SendLagMS}}
	var errs []error
	if b, err := os.ReadFile(filepath.Join(res.Dir, ConfigFile)); err != nil {
		pg.ConfigErr = err.Error()
	} else {
		var c struct {
			Scenario string     `json:"scenario"`
			Label    string     `json:"label"`
			Started  time.Time  `json:"started"`
			Launched []Launched `json:"launched"`
		}
		var ind bytes.Buffer
		if err := json.Unmarshal(b, &c); err != nil {
			pg.ConfigErr = fmt.Sprintf("%s: %v", ConfigFile, err)
		} else if err := json.Indent(&ind, b, "", "  "); err == nil {
			pg.Config = ind.String()
		}
		pg.Scenario, pg.Label, pg.Launched = c.Scenario, c.Label, c.Launched
		if !c.Started.IsZero() {
			pg.Started = c.Started.Format("2006-01-02 15:04:05.000 MST")
		}
	}
	for _, c := range res.Charts {
		pc := pageChart{ChartFile: c}
		if b, err := os.ReadFile(filepath.Join(res.Dir, c.File)); err != nil {
			pc.Err = err.Error()
		} else {
			pc.Src = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
		}
		pg.Charts = append(pg.Charts, pc)
	}
	pg.Files = runFiles(res.Dir)
	var buf bytes.Buffer
	if err := reportPage.Execute(&buf, pg); err != nil {
		return fmt.Errorf("report: rendering %s: %w", HTMLFile, err)
	}
	errs = append(errs, writeFile(filepath.Join(res.Dir, HTMLFile), &buf))
	errs = append(errs, WriteIndex(filepath.Dir(res.Dir)))
	return errors.Join(errs...)
}

// runFiles lists the run directory's files (and those in logs/), for
// report.html's links; report.html itself is listed too.
func runFiles(dir string) []pageFile {
	var out []pageFile
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, rerr := filepath.Rel(dir, path)
		if rerr != nil {
			return nil
		}
		info, ierr := d.Info()
		if ierr != nil {
			return nil
		}
		out = append(out, pageFile{Name: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if !slices.ContainsFunc(out, func(f pageFile) bool { return f.Name == HTMLFile }) {
		out = append(out, pageFile{Name: HTMLFile, Size: -1})
	}
	slices.SortFunc(out, func(a, b pageFile) int {
		// Top-level files first, then logs/.
		if c := cmp.Compare(strings.Count(a.Name, "/"), strings.Count(b.Name, "/")); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// figureText writes a bound's measured value with its unit.
func figureText(v *float64, unit string) string {
	if v == nil {
		return ""
	}
	prec := 1
	switch a := math.Abs(*v); {
	case a < 10:
		prec = 3
	case a < 100:
		prec = 2
	}
	return strings.TrimSpace(number(*v, prec) + " " + unit)
}

// statText writes a GPU figure's mean, P95 and max scaled by scale.
func statText(s telemetry.Stats, scale float64, unit string, prec int) string {
	if !s.OK() {
		if s.Missing != "" {
			return "n/a (" + s.Missing + ")"
		}
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s %s", number(s.Mean*scale, prec), number(s.P95*scale, prec), number(s.Max*scale, prec), unit)
}

func readingText(f telemetry.Figure, scale float64, unit string, prec int) string {
	if !f.OK() {
		return "n/a (" + f.Missing + ")"
	}
	return number(f.Value*scale, prec) + " " + unit
}

func sizeText(n int64) string {
	switch {
	case n < 0:
		return ""
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return number(float64(n)/(1<<10), 1) + " KiB"
	default:
		return number(float64(n)/(1<<20), 1) + " MiB"
	}
}

// shellJoin writes an argv as a shell would need it typed: each argument
// quoted when it holds anything but safe characters.
func shellJoin(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,+@%") == "" {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}
