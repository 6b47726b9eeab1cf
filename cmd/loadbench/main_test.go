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
	for _, want := range []string{"highest rate sustained with p99 schedule lag < 1h0m0s: 100 req/s offered", "added TTFT at 100 req/s: p50", "ceiling: ", wrk} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadFlagsAreRejected(t *testing.T) {
	for _, args := range [][]string{{"--api", "grpc"}, {"--rates", "10,-1"}, {"--stub", "remote", "--rates", "1"}, {"serve", "--addr", "0.0.0.0:1"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code == 0 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want a failure with a message", args, code, errb.String())
		}
	}
}
