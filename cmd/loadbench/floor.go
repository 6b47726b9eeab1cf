package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/sgltest/sgltest/internal/load"
)

// The host's floor: a lone thread sleeping to a Poisson schedule at the
// same rate, beside the load, with the arrival loop's own clock and timer
// slack (load.SleepLags). Its p99 wake-up lag is what the machine's
// schedulers give a thread that does no work; the client's p99 schedule
// lag cannot be expected below it. With the stub in a process the sleeper
// is a process too, so that neither shares the client's Go scheduler.

// floorResult is one floor measurement: the p99 wake-up lag, or err.
type floorResult struct {
	p99 time.Duration
	err error
}

// floorFunc starts a floor measurement at rate for d and delivers its
// result when it ends.
type floorFunc func(ctx context.Context, rate float64, d time.Duration, seed uint64) <-chan floorResult

// floorRunner returns the floor measurement that matches the stub's mode.
func floorRunner(stubMode string) floorFunc {
	if stubMode == "in-process" {
		return func(ctx context.Context, rate float64, d time.Duration, seed uint64) <-chan floorResult {
			out := make(chan floorResult, 1)
			go func() {
				p99, err := sleepFloor(ctx, rate, d, seed)
				out <- floorResult{p99: p99, err: err}
			}()
			return out
		}
	}
	return func(ctx context.Context, rate float64, d time.Duration, seed uint64) <-chan floorResult {
		out := make(chan floorResult, 1)
		exe, err := os.Executable()
		if err != nil {
			out <- floorResult{err: err}
			return out
		}
		argv := []string{"floor", "--rate", strconv.FormatFloat(rate, 'g', -1, 64), "--duration", d.String(), "--seed", strconv.FormatUint(seed, 10)}
		cmd := exec.CommandContext(ctx, exe, argv...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			out <- floorResult{err: fmt.Errorf("floor process: %w", err)}
			return out
		}
		go func() {
			if err := cmd.Wait(); err != nil {
				out <- floorResult{err: fmt.Errorf("floor process: %v: %s", err, strings.TrimSpace(stderr.String()))}
				return
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
			if err != nil {
				out <- floorResult{err: fmt.Errorf("floor process printed %q, want nanoseconds", stdout.String())}
				return
			}
			out <- floorResult{p99: time.Duration(ns)}
		}()
		return out
	}
}

// sleepFloor sleeps to a Poisson schedule at rate for d and returns the
// p99 of its wake-up lags.
func sleepFloor(ctx context.Context, rate float64, d time.Duration, seed uint64) (time.Duration, error) {
	at, err := load.Poisson(rate, max(int(rate*d.Seconds()), 1), seed)
	if err != nil {
		return 0, err
	}
	lags, err := load.SleepLags(ctx, load.Offsets(at))
	if err != nil {
		return 0, err
	}
	slices.Sort(lags)
	return lags[(len(lags)*99+99)/100-1], nil
}

// floorCmd is the floor's process: it prints the p99 wake-up lag in
// nanoseconds.
func floorCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadbench floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rate := fs.Float64("rate", 1000, "wake-ups per second (Poisson)")
	d := fs.Duration("duration", 3*time.Second, "how long to sleep")
	seed := fs.Uint64("seed", 2, "seed of the Poisson schedule")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p99, err := sleepFloor(context.Background(), *rate, *d, *seed)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench floor:", err)
		return 1
	}
	fmt.Fprintln(stdout, p99.Nanoseconds())
	return 0
}

// floorSummary lists each rate's floor.
func floorSummary(rs []result) string {
	var parts []string
	for _, r := range rs {
		if r.floor >= 0 {
			parts = append(parts, fmt.Sprintf("%d µs at %.0f req/s", r.floor.Microseconds(), r.rate))
		}
	}
	return strings.Join(parts, ", ")
}
