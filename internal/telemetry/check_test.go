//go:build linux && cgo

package telemetry

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// steadyDGX is a mock server whose GPUs all read the same figures.
func steadyDGX(srv *server.Server) *mockDGX {
	m := newMockDGX(srv)
	for _, f := range m.gpus {
		f.util, f.memUtil, f.powerMW, f.energyMJ, f.smMHz, f.tempC = 87, 41, 512_345, 1_000_000, 1980, 63
		f.procs = []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: 3 << 30}}
		f.gpmBusy = 10
	}
	return m
}

func runCheck(t *testing.T, m *mockDGX, ids []int) (string, error) {
	t.Helper()
	s, err := openWith(m, NVMLOptions{Devices: ids}, noParent)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	err = check(context.Background(), &out, s, 50*time.Millisecond, 10*time.Millisecond)
	return out.String(), err
}

func TestCheck_PrintsEveryFigureAndPassesWhenAllAreRead(t *testing.T) {
	out, err := runCheck(t, steadyDGX(dgxh100.New()), []int{0, 5})
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{
		"GPU check: 2 GPUs", "GPU 0: NVIDIA H100 80GB HBM3 GPU-", "GPU 5: NVIDIA H100 80GB HBM3 GPU-", "(NVML)",
		"GPU utilization", "87.0 %", "memory utilization", "41.0 %", "memory used", "memory total", "80.00 GiB",
		"power", "512.3 W", "energy counter", "1000000 mJ", "SM clock", "1980 MHz", "temperature", "63 C",
		"process memory", "3.00 GiB", "GPM SM activity", "0.0 %", "throttle reasons", "none",
		"energy over the check", "0.000 J",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "UNREADABLE") {
		t.Errorf("output has an unreadable figure:\n%s", out)
	}
}

func TestCheck_FailsNamingEachUnreadableFigure(t *testing.T) {
	m := steadyDGX(dgxh100.New())
	m.gpus[1].ret["power"] = nvml.ERROR_NOT_SUPPORTED
	m.gpus[1].ret["temp"] = nvml.ERROR_UNKNOWN
	out, err := runCheck(t, m, []int{0, 1})
	if err == nil {
		t.Fatalf("check passed with unreadable figures:\n%s", out)
	}
	for _, want := range []string{
		"2 figures could not be read",
		"GPU 1 power: unsupported by this GPU or driver (NVML: ERROR_NOT_SUPPORTED)",
		"GPU 1 temperature: NVML error: ERROR_UNKNOWN",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if !strings.Contains(out, "UNREADABLE") || !strings.Contains(out, "  power: unsupported by this GPU or driver") {
		t.Errorf("output does not mark the power unreadable:\n%s", out)
	}
}

func TestCheck_GPMOnAGPUOlderThanHopperIsNotAFailure(t *testing.T) {
	out, err := runCheck(t, steadyDGX(dgxa100.New()), []int{0})
	if err != nil {
		t.Fatalf("check on an A100: %v\n%s", err, out)
	}
	if !strings.Contains(out, "GPM SM activity: "+gpmPreHopper) {
		t.Errorf("output does not say GPM is unsupported:\n%s", out)
	}
}

func TestCheck_RefusesAnIntervalLongerThanTheDuration(t *testing.T) {
	var out bytes.Buffer
	for _, c := range []struct{ d, i time.Duration }{{time.Second, 2 * time.Second}, {time.Second, 0}} {
		if err := check(context.Background(), &out, NewSimSampler(nil), c.d, c.i); err == nil {
			t.Errorf("duration %v interval %v accepted", c.d, c.i)
		}
	}
}
