package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// gpmPreHopper marks GPM SM activity on a GPU older than Hopper, which has
// no GPM: the one missing figure Check does not count as a failure.
const gpmPreHopper = "unsupported: GPM needs a Hopper or newer GPU"

// Check is the GPU check a user runs on a GPU machine: it samples the GPUs
// ids (NVML indices; every GPU when empty) every interval for duration,
// writes every figure of every GPU to w, and returns an error naming each
// figure that could not be read. NVML being unavailable is an error too
// (see Unavailable). GPM SM activity on a GPU older than Hopper is printed
// as unsupported but is not an error: such GPUs have no GPM.
func Check(ctx context.Context, w io.Writer, ids []int, duration, interval time.Duration) error {
	s, err := Open(NVMLOptions{Devices: ids})
	if err != nil {
		return err
	}
	err = check(ctx, w, s, duration, interval)
	return errors.Join(err, s.Close())
}

func check(ctx context.Context, w io.Writer, s Sampler, duration, interval time.Duration) error {
	if interval <= 0 || duration < interval {
		return fmt.Errorf("gpu check: interval %v and duration %v: want 0 < interval <= duration", interval, duration)
	}
	start := time.Now()
	c, err := NewCollector(CollectorOptions{Sampler: s, Now: func() time.Duration { return time.Since(start) }, Interval: interval})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	t := time.NewTimer(duration)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	stopErr := c.Stop()
	if ctx.Err() != nil {
		return fmt.Errorf("gpu check interrupted: %w", ctx.Err())
	}
	samples := c.Samples()
	sums := c.Summaries()
	n := 0
	if len(sums) > 0 {
		n = sums[0].Samples
	}
	fmt.Fprintf(w, "GPU check: %d GPUs, %d samples each, every %v for %v\n", len(sums), n, interval, duration)
	var unread []string
	for _, sum := range sums {
		var gs []GPU
		for _, g := range samples {
			if g.Index == sum.Index {
				gs = append(gs, g)
			}
		}
		unread = append(unread, writeGPU(w, sum, gs)...)
	}
	var errs []error
	if stopErr != nil {
		errs = append(errs, stopErr)
	}
	if len(unread) > 0 {
		noun := "figures"
		if len(unread) == 1 {
			noun = "figure"
		}
		errs = append(errs, fmt.Errorf("gpu check: %d %s could not be read:\n  %s", len(unread), noun, strings.Join(unread, "\n  ")))
	}
	return errors.Join(errs...)
}

// checkRow is one figure of the check's table.
type checkRow struct {
	name   string
	fig    func(GPU) Figure
	stats  func(Summary) Stats
	format func(float64) string
}

var checkRows = []checkRow{
	{"GPU utilization", func(g GPU) Figure { return g.UtilizationPct }, func(s Summary) Stats { return s.UtilizationPct }, pct},
	{"memory utilization", func(g GPU) Figure { return g.MemoryUtilizationPct }, func(s Summary) Stats { return s.MemoryUtilizationPct }, pct},
	{"memory used", func(g GPU) Figure { return g.MemoryUsedBytes }, func(s Summary) Stats { return s.MemoryUsedBytes }, gib},
	{"memory total", func(g GPU) Figure { return g.MemoryTotalBytes }, nil, gib},
	{"power", func(g GPU) Figure { return g.PowerWatts }, func(s Summary) Stats { return s.PowerWatts }, unit("%.1f W")},
	{"energy counter", func(g GPU) Figure { return g.EnergyMillijoules }, nil, unit("%.0f mJ")},
	{"SM clock", func(g GPU) Figure { return g.SMClockMHz }, func(s Summary) Stats { return s.SMClockMHz }, unit("%.0f MHz")},
	{"temperature", func(g GPU) Figure { return g.TemperatureC }, func(s Summary) Stats { return s.TemperatureC }, unit("%.0f C")},
	{"process memory", func(g GPU) Figure { return g.ProcessMemoryBytes }, func(s Summary) Stats { return s.ProcessMemoryBytes }, gib},
	{"GPM SM activity", func(g GPU) Figure { return g.SMActivityPct }, func(s Summary) Stats { return s.SMActivityPct }, pct},
}

func pct(v float64) string { return fmt.Sprintf("%.1f %%", v) }
func gib(v float64) string { return fmt.Sprintf("%.2f GiB", v/(1<<30)) }
func unit(f string) func(float64) string {
	return func(v float64) string { return fmt.Sprintf(f, v) }
}

// writeGPU prints one GPU's figures (the last sample, and mean, P95 and
// max over the check) and returns the figures it could not read.
func writeGPU(w io.Writer, s Summary, gs []GPU) []string {
	source := "NVML"
	if s.Simulated {
		source = "simulated"
	}
	fmt.Fprintf(w, "\nGPU %d: %s %s (%s)\n", s.Index, s.Name, s.UUID, source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  figure\tlast\tmean\tp95\tmax")
	var unread, notes []string
	fail := func(name, why string, n int) {
		unread = append(unread, fmt.Sprintf("GPU %d %s: %s (%d of %d samples)", s.Index, name, why, n, len(gs)))
	}
	row := func(name string, cells ...string) {
		for len(cells) > 0 && cells[len(cells)-1] == "" {
			cells = cells[:len(cells)-1]
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, strings.Join(cells, "\t"))
	}
	unreadCell := func(name, why string) string {
		notes = append(notes, fmt.Sprintf("  %s: %s", name, why))
		return "UNREADABLE"
	}
	last := gs[len(gs)-1]
	for _, r := range checkRows {
		cells := make([]string, 4)
		if f := r.fig(last); f.OK() {
			cells[0] = r.format(f.Value)
		} else {
			cells[0] = unreadCell(r.name, f.Missing)
		}
		if r.stats != nil {
			if st := r.stats(s); st.OK() {
				cells[1], cells[2], cells[3] = r.format(st.Mean), r.format(st.P95), r.format(st.Max)
			}
		}
		row(r.name, cells...)
		if why, n := unreadable(gs, r.fig); n > 0 {
			fail(r.name, why, n)
		}
	}
	switch tr := last.ThrottleReasons; {
	case !tr.OK():
		row("throttle reasons", unreadCell("throttle reasons", tr.Missing))
	case len(tr.Value) == 0:
		row("throttle reasons", "none")
	default:
		row("throttle reasons", strings.Join(tr.Value, ", "))
	}
	if why, n := unreadable(gs, func(g GPU) Figure { return Figure{Missing: g.ThrottleReasons.Missing} }); n > 0 {
		fail("throttle reasons", why, n)
	}
	if e := s.EnergyJoules; e.OK() {
		row("energy over the check", fmt.Sprintf("%.3f J", e.Value))
	} else {
		row("energy over the check", unreadCell("energy over the check", e.Missing))
	}
	_ = tw.Flush() // a terminal: a failed write has nowhere better to go
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return unread
}

// unreadable returns the last reason a figure was missing and in how many
// samples, not counting what is no failure: the first sample's baseline
// and GPM on a GPU older than Hopper.
func unreadable(gs []GPU, fig func(GPU) Figure) (string, int) {
	why, n := "", 0
	for i, g := range gs {
		f := fig(g)
		if f.OK() || (i == 0 && f.Missing == baseline) || f.Missing == gpmPreHopper {
			continue
		}
		why = f.Missing
		n++
	}
	return why, n
}
