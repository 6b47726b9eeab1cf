//go:build linux && cgo

package telemetry

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/go-cmp/cmp"
)

// fakeGPU is what one mock device reports. Tests set its fields between
// samples; ret makes a named call fail.
type fakeGPU struct {
	util, memUtil uint32
	powerMW       uint32
	energyMJ      uint64
	smMHz, tempC  uint32
	reasons       uint64
	procs         []nvml.ProcessInfo
	gpmSupported  bool
	gpmBusy       float64 // what the next GPM sample records
	ret           map[string]nvml.Return
}

func (f *fakeGPU) r(call string) nvml.Return {
	if r, ok := f.ret[call]; ok {
		return r
	}
	return nvml.SUCCESS
}

// fakeGPMSample is a GPM sample whose "counter" the fake metric differences.
type fakeGPMSample struct {
	busy  float64
	freed bool
}

func (s *fakeGPMSample) Free() nvml.Return                   { s.freed = true; return nvml.SUCCESS }
func (s *fakeGPMSample) Get(nvml.Device) nvml.Return         { return nvml.ERROR_NOT_SUPPORTED }
func (s *fakeGPMSample) MigGet(nvml.Device, int) nvml.Return { return nvml.ERROR_NOT_SUPPORTED }

// mockDGX is go-nvml's simulated DGX server with the telemetry calls wired
// to one fakeGPU per device, and every GPM sample it allocates.
type mockDGX struct {
	*server.Server
	gpus    []*fakeGPU
	samples []*fakeGPMSample
}

func newMockDGX(srv *server.Server) *mockDGX {
	m := &mockDGX{Server: srv}
	srv.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		s := &fakeGPMSample{}
		m.samples = append(m.samples, s)
		return s, nvml.SUCCESS
	}
	srv.GpmMetricsGetFunc = func(g *nvml.GpmMetricsGetType) nvml.Return {
		if g.NumMetrics != 1 || g.Metrics[0].MetricId != uint32(nvml.GPM_METRIC_SM_UTIL) {
			return nvml.ERROR_INVALID_ARGUMENT
		}
		g.Metrics[0].Value = g.Sample2.(*fakeGPMSample).busy - g.Sample1.(*fakeGPMSample).busy
		return nvml.SUCCESS
	}
	for _, d := range srv.Devices {
		f := &fakeGPU{gpmSupported: true, ret: map[string]nvml.Return{}}
		m.gpus = append(m.gpus, f)
		dev := d.(*server.Device)
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: f.util, Memory: f.memUtil}, f.r("util")
		}
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return f.powerMW, f.r("power") }
		dev.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return f.energyMJ, f.r("energy") }
		dev.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
			if c != nvml.CLOCK_SM {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return f.smMHz, f.r("clock")
		}
		dev.GetTemperatureFunc = func(s nvml.TemperatureSensors) (uint32, nvml.Return) {
			if s != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return f.tempC, f.r("temp")
		}
		dev.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return f.reasons, f.r("reasons") }
		dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return f.procs, f.r("procs") }
		dev.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
			s := nvml.GpmSupport{}
			if f.gpmSupported {
				s.IsSupportedDevice = 1
			}
			return s, f.r("gpmquery")
		}
		dev.GpmSampleGetFunc = func(s nvml.GpmSample) nvml.Return {
			s.(*fakeGPMSample).busy = f.gpmBusy
			return f.r("gpmsample")
		}
	}
	return m
}

// noParent is a process table where every process is its own root.
func noParent(int) (int, error) { return 0, errors.New("no such process") }

func TestNVMLSampler_ReadsEveryFigureWithItsUnitOnAMockDGXH100(t *testing.T) {
	m := newMockDGX(dgxh100.New())
	s, err := openWith(m, NVMLOptions{Devices: []int{3, 1}}, noParent)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range m.gpus {
		f.util, f.memUtil, f.powerMW, f.energyMJ, f.smMHz, f.tempC = 87, 41, 512_345, 1_000_000, 1980, 63
		f.reasons = nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown
		f.procs = []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: 30 << 30}, {Pid: 200, UsedGpuMemory: 2 << 30}}
		f.gpmBusy = 10
	}
	first, err := s.Sample(100)
	if err != nil {
		t.Fatal(err)
	}
	m.gpus[3].gpmBusy, m.gpus[3].energyMJ = 55.5, 1_250_000
	second, err := s.Sample(200)
	if err != nil {
		t.Fatal(err)
	}
	mem := m.Devices[3].(*server.Device).MemoryInfo
	want := GPU{
		At: 200, Index: 3, UUID: m.Devices[3].(*server.Device).UUID, Name: "NVIDIA H100 80GB HBM3",
		UtilizationPct: known(87.0), MemoryUtilizationPct: known(41.0),
		MemoryUsedBytes: known(float64(mem.Used)), MemoryTotalBytes: known(80.0 * 1024 * 1024 * 1024),
		PowerWatts:        known(512.345),     // 512345 mW
		EnergyMillijoules: known(1_250_000.0), // the counter as read
		SMClockMHz:        known(1980.0), TemperatureC: known(63.0),
		ThrottleReasons:    known([]string{"sw_power_cap", "hw_thermal_slowdown"}),
		ProcessMemoryBytes: known(32.0 * (1 << 30)), // every compute process: 30 + 2 GiB
		SMActivityPct:      known(45.5),             // 55.5 - 10 between the two GPM samples
	}
	if len(second) != 2 || second[0].Index != 3 || second[1].Index != 1 {
		t.Fatalf("devices = %+v, want GPUs 3 and 1 in that order", second)
	}
	if diff := cmp.Diff(want, second[0]); diff != "" {
		t.Errorf("second sample of GPU 3 (-want +got):\n%s", diff)
	}
	if got := first[0].SMActivityPct; got.Missing != baseline {
		t.Errorf("first sample's SM activity = %+v, want the baseline", got)
	}
	if got := second[1].SMActivityPct; got != known(0.0) {
		t.Errorf("GPU 1's SM activity = %+v, want 0 (its GPM counter did not move)", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, smp := range m.samples {
		if !smp.freed {
			t.Errorf("GPM sample %d not freed by Close", i)
		}
	}
}

func TestNVMLSampler_MarksEachRefusedFigureWithNVMLsReason(t *testing.T) {
	m := newMockDGX(dgxh100.New())
	f := m.gpus[0]
	f.ret["power"] = nvml.ERROR_NOT_SUPPORTED
	f.ret["util"] = nvml.ERROR_GPU_IS_LOST
	f.ret["reasons"] = nvml.ERROR_NOT_SUPPORTED
	f.gpmSupported = false
	f.procs = []nvml.ProcessInfo{{Pid: 7, UsedGpuMemory: math.MaxUint64}}
	s, err := openWith(m, NVMLOptions{Devices: []int{0}}, noParent)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gs, _ := s.Sample(0)
	g := gs[0]
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"power", g.PowerWatts.Missing, "unsupported by this GPU or driver (NVML: ERROR_NOT_SUPPORTED)"},
		{"utilization", g.UtilizationPct.Missing, "NVML error: ERROR_GPU_IS_LOST"},
		{"memory utilization", g.MemoryUtilizationPct.Missing, "NVML error: ERROR_GPU_IS_LOST"},
		{"throttle reasons", g.ThrottleReasons.Missing, "unsupported by this GPU or driver (NVML: ERROR_NOT_SUPPORTED)"},
		{"SM activity", g.SMActivityPct.Missing, "unsupported: the driver reports no GPM support on this GPU"},
		{"process memory", g.ProcessMemoryBytes.Missing, "NVML does not report the memory of process 7 (NVML_VALUE_NOT_AVAILABLE)"},
		{"temperature (read)", g.TemperatureC.Missing, ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: missing = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if g.PowerWatts.Value != 0 || g.UtilizationPct.Value != 0 {
		t.Errorf("a refused figure carries a value: %+v", g)
	}
}

func TestNVMLSampler_GPMIsUnsupportedOnAnA100(t *testing.T) {
	m := newMockDGX(dgxa100.New())
	s, err := openWith(m, NVMLOptions{Devices: []int{0}}, noParent)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		gs, _ := s.Sample(0)
		if got := gs[0].SMActivityPct.Missing; got != gpmPreHopper {
			t.Errorf("A100 SM activity missing = %q, want %q", got, gpmPreHopper)
		}
	}
	if len(m.samples) != 0 {
		t.Errorf("%d GPM samples allocated on a GPU without GPM", len(m.samples))
	}
}

func TestNVMLSampler_ProcessMemoryCountsTheWatchedProcessesAndTheirDescendants(t *testing.T) {
	// 10 launched 11, which launched 12 (SGLang's scheduler); 20 is
	// someone else's; 30's parent cannot be read.
	parents := map[int]int{11: 10, 12: 11, 10: 1, 20: 1}
	parent := func(pid int) (int, error) {
		if p, ok := parents[pid]; ok {
			return p, nil
		}
		return 0, errors.New("no such process")
	}
	procs := []nvml.ProcessInfo{{Pid: 12, UsedGpuMemory: 1000}, {Pid: 10, UsedGpuMemory: 5}, {Pid: 20, UsedGpuMemory: 70}, {Pid: 30, UsedGpuMemory: 900}}
	tests := []struct {
		name string
		pids []int
		want float64
	}{
		{"every compute process", nil, 1975},
		{"a launched process and its descendants", []int{10}, 1005},
		{"a child only", []int{12}, 1000},
		{"a process with no GPU memory", []int{99}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMockDGX(dgxh100.New())
			m.gpus[0].procs = procs
			s, err := openWith(m, NVMLOptions{Devices: []int{0}, PIDs: tt.pids}, parent)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			gs, _ := s.Sample(0)
			if got := gs[0].ProcessMemoryBytes; got != known(tt.want) {
				t.Errorf("process memory = %+v, want %v bytes", got, tt.want)
			}
		})
	}
}

func TestOpen_NoNVMLIsUnavailableWithAReason(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*server.Server)
		reason string
	}{
		{"no library", func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND } },
			"libnvidia-ml.so.1 was not found"},
		{"driver not loaded", func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED } },
			"driver is not loaded"},
		{"init fails otherwise", func(s *server.Server) { s.InitFunc = func() nvml.Return { return nvml.ERROR_UNKNOWN } },
			"NVML failed to initialise: ERROR_UNKNOWN"},
		{"no GPU", func(s *server.Server) { s.Devices = nil }, "NVML sees no GPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMockDGX(dgxh100.New())
			tt.edit(m.Server)
			_, err := openWith(m, NVMLOptions{}, noParent)
			reason, ok := Unavailable(err)
			if !ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("openWith = %v; want unavailable because %q", err, tt.reason)
			}
		})
	}
}

func TestOpen_UnknownOrRepeatedDeviceIsAnErrorNotUnavailable(t *testing.T) {
	for _, ids := range [][]int{{8}, {-1}, {2, 2}} {
		m := newMockDGX(dgxh100.New())
		shutdowns := 0
		m.ShutdownFunc = func() nvml.Return { shutdowns++; return nvml.SUCCESS }
		_, err := openWith(m, NVMLOptions{Devices: ids}, noParent)
		if _, unavailable := Unavailable(err); err == nil || unavailable {
			t.Errorf("devices %v: err = %v, want an ordinary error", ids, err)
		}
		if shutdowns != 1 {
			t.Errorf("devices %v: NVML shut down %d times after the failed open, want 1", ids, shutdowns)
		}
	}
	_, err := openWith(newMockDGX(dgxh100.New()), NVMLOptions{Devices: []int{8}}, noParent)
	if want := "GPU 8 requested, but NVML sees 8 GPUs (0-7)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestOpen_WithoutADriverThisMachineIsUnavailable(t *testing.T) {
	s, err := Open(NVMLOptions{})
	if err == nil {
		s.Close()
		t.Skip("this machine has an NVIDIA driver and a GPU")
	}
	if reason, ok := Unavailable(err); !ok || !strings.Contains(reason, "libnvidia-ml.so.1") {
		t.Errorf("Open = %v, want unavailable for want of libnvidia-ml.so.1", err)
	}
}

func TestThrottleNames_NamesEachBitInOrder(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, []string{}},
		{nvml.ClocksEventReasonGpuIdle, []string{"gpu_idle"}},
		{nvml.ClocksEventReasonSwPowerCap | nvml.ClocksEventReasonSyncBoost | nvml.ClocksThrottleReasonHwPowerBrakeSlowdown,
			[]string{"sw_power_cap", "sync_boost", "hw_power_brake_slowdown"}},
		{nvml.ClocksEventReasonAll, []string{"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost",
			"sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting", "board_limit", "reliability"}},
		{1<<40 | nvml.ClocksThrottleReasonHwSlowdown, []string{"hw_slowdown", "unknown_0x10000000000"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, throttleNames(tt.mask)); diff != "" {
			t.Errorf("throttleNames(%#x) (-want +got):\n%s", tt.mask, diff)
		}
	}
}

func TestProcParent_ReadsThisProcesssParent(t *testing.T) {
	// The test binary's parent is whatever started it; /proc agrees with
	// the kernel's view through os.Getppid.
	got, err := procParent(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if want := os.Getppid(); got != want {
		t.Errorf("procParent(self) = %d, want %d", got, want)
	}
}
