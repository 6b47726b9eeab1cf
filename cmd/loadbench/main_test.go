package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestSweepReportsSustainedRateAndAddedTTFT(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--stub", "in-process", "--rates", "50,100", "--ttft-rate", "100", "--duration", "200ms",
		"--tokens", "4", "--max-lag", "1h"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	wrk := "wrk: not installed"
	if _, err := exec.LookPath("wrk"); err == nil {
		wrk = "wrk on the same stub and request (wrk -t "
	}
	for _, want := range []string{"highest rate sustained with p99 schedule lag < 1h0m0s: 100 req/s offered", "added TTFT at 100 req/s: p50", "ceiling: ", "host floor (a thread that only sleeps to the same schedule, beside each rate): p99 wake-up lag ", " µs at 50 req/s, ", wrk} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadFlagsAreRejected(t *testing.T) {
	for _, args := range [][]string{{"--api", "grpc"}, {"--rates", "10,-1"}, {"--stub", "remote", "--rates", "1"}, {"serve", "--addr", "0.0.0.0:1"}, {"floor", "--rate", "0"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code == 0 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want a failure with a message", args, code, errb.String())
		}
	}
}

func TestNoFloorLeavesTheHostFloorOut(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--stub", "in-process", "--rates", "50", "--ttft-rate", "50", "--duration", "100ms",
		"--tokens", "2", "--no-floor", "--no-wrk"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "host floor") {
		t.Errorf("--no-floor still measured the floor:\n%s", out.String())
	}
}
