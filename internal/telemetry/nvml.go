//go:build linux && cgo

package telemetry

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Open loads NVML (libnvidia-ml.so.1, from the driver), initialises it and
// returns a Sampler of opts.Devices. A machine without the library, the
// driver or a GPU gives an *UnavailableError (see Unavailable); a device
// index NVML does not have is an ordinary error. Close shuts NVML down.
func Open(opts NVMLOptions) (Sampler, error) {
	return openWith(nvml.New(), opts, procParent)
}

// nvmlSampler reads devices through nvml.Interface, so tests run it on
// go-nvml's mock servers.
type nvmlSampler struct {
	lib    nvml.Interface
	devs   []*nvmlDevice
	pids   map[int]bool // nil: every compute process
	parent func(pid int) (int, error)
}

type nvmlDevice struct {
	index      int
	h          nvml.Device
	uuid, name string
	// gpmMissing is why GPM cannot be read on this device; empty when it
	// can. The metric is computed from prev to cur; havePrev says prev
	// holds a sample.
	gpmMissing string
	prev, cur  nvml.GpmSample
	havePrev   bool
	metrics    *nvml.GpmMetricsGetType
}

var _ Sampler = (*nvmlSampler)(nil)

func openWith(lib nvml.Interface, opts NVMLOptions, parent func(int) (int, error)) (_ *nvmlSampler, err error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, &UnavailableError{Reason: initFailure(ret)}
	}
	s := &nvmlSampler{lib: lib, parent: parent}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, &UnavailableError{Reason: "NVML could not count the GPUs: " + ret.Error()}
	}
	if n == 0 {
		return nil, &UnavailableError{Reason: "NVML sees no GPU on this machine"}
	}
	ids := opts.Devices
	if len(ids) == 0 {
		ids = make([]int, n)
		for i := range ids {
			ids[i] = i
		}
	}
	seen := map[int]bool{}
	for _, id := range ids {
		if id < 0 || id >= n {
			return nil, fmt.Errorf("telemetry: GPU %d requested, but NVML sees %d GPUs (0-%d)", id, n, n-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("telemetry: GPU %d requested twice", id)
		}
		seen[id] = true
		d, err := s.openDevice(id)
		if err != nil {
			return nil, err
		}
		s.devs = append(s.devs, d)
	}
	if opts.PIDs != nil {
		s.pids = make(map[int]bool, len(opts.PIDs))
		for _, p := range opts.PIDs {
			s.pids[p] = true
		}
	}
	return s, nil
}

func initFailure(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "the NVML library libnvidia-ml.so.1 was not found (no NVIDIA driver on this machine)"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "the NVIDIA driver is not loaded"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to use NVML"
	}
	return "NVML failed to initialise: " + ret.Error()
}

func (s *nvmlSampler) openDevice(id int) (*nvmlDevice, error) {
	h, ret := s.lib.DeviceGetHandleByIndex(id)
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("telemetry: GPU %d: %s", id, ret.Error())
	}
	d := &nvmlDevice{index: id, h: h}
	if d.uuid, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("telemetry: GPU %d: reading its UUID: %s", id, ret.Error())
	}
	if d.name, ret = h.GetName(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("telemetry: GPU %d: reading its name: %s", id, ret.Error())
	}
	d.gpmMissing = s.gpmSupport(d)
	return d, nil
}

// gpmSupport allocates d's GPM samples and returns "", or why GPM cannot
// be read on d.
func (s *nvmlSampler) gpmSupport(d *nvmlDevice) string {
	arch, ret := d.h.GetArchitecture()
	if ret == nvml.SUCCESS && arch < nvml.DEVICE_ARCH_HOPPER {
		return gpmPreHopper
	}
	sup, ret := d.h.GpmQueryDeviceSupport()
	switch {
	case ret != nvml.SUCCESS:
		return "unsupported: the driver cannot query GPM support: " + ret.Error()
	case sup.IsSupportedDevice == 0:
		return "unsupported: the driver reports no GPM support on this GPU"
	}
	var r1, r2 nvml.Return
	d.prev, r1 = s.lib.GpmSampleAlloc()
	d.cur, r2 = s.lib.GpmSampleAlloc()
	if r1 != nvml.SUCCESS || r2 != nvml.SUCCESS {
		d.freeGPM()
		return fmt.Sprintf("GPM sample allocation failed: %s, %s", r1.Error(), r2.Error())
	}
	d.metrics = &nvml.GpmMetricsGetType{NumMetrics: 1}
	return ""
}

func (d *nvmlDevice) freeGPM() {
	for _, smp := range []nvml.GpmSample{d.prev, d.cur} {
		if smp != nil {
			_ = smp.Free() // freeing: a failure leaves nothing to undo
		}
	}
	d.prev, d.cur = nil, nil
}

// Close frees the GPM samples and shuts NVML down.
func (s *nvmlSampler) Close() error {
	for _, d := range s.devs {
		d.freeGPM()
	}
	s.devs = nil
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("telemetry: NVML shutdown: %s", ret.Error())
	}
	return nil
}

// Sample reads every device. Each figure NVML refuses is marked missing
// with NVML's reason; the sample itself never fails.
func (s *nvmlSampler) Sample(at time.Duration) ([]GPU, error) {
	out := make([]GPU, len(s.devs))
	for i, d := range s.devs {
		out[i] = s.read(d, at)
	}
	return out, nil
}

func (s *nvmlSampler) read(d *nvmlDevice, at time.Duration) GPU {
	h := d.h
	g := GPU{At: at, Index: d.index, UUID: d.uuid, Name: d.name}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		g.UtilizationPct, g.MemoryUtilizationPct = known(float64(u.Gpu)), known(float64(u.Memory))
	} else {
		g.UtilizationPct, g.MemoryUtilizationPct = missing[float64](why(ret)), missing[float64](why(ret))
	}
	if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryUsedBytes, g.MemoryTotalBytes = known(float64(m.Used)), known(float64(m.Total))
	} else {
		g.MemoryUsedBytes, g.MemoryTotalBytes = missing[float64](why(ret)), missing[float64](why(ret))
	}
	mw, ret := h.GetPowerUsage()
	g.PowerWatts = figure(float64(mw)/1000, ret)
	mj, ret := h.GetTotalEnergyConsumption()
	g.EnergyMillijoules = figure(float64(mj), ret)
	mhz, ret := h.GetClockInfo(nvml.CLOCK_SM)
	g.SMClockMHz = figure(float64(mhz), ret)
	c, ret := h.GetTemperature(nvml.TEMPERATURE_GPU)
	g.TemperatureC = figure(float64(c), ret)
	mask, ret := h.GetCurrentClocksEventReasons()
	if ret == nvml.ERROR_FUNCTION_NOT_FOUND {
		// Drivers before the rename only have the throttle-reasons call.
		mask, ret = h.GetCurrentClocksThrottleReasons()
	}
	if ret == nvml.SUCCESS {
		g.ThrottleReasons = known(throttleNames(mask))
	} else {
		g.ThrottleReasons = missing[[]string](why(ret))
	}
	g.ProcessMemoryBytes = s.processMemory(h)
	g.SMActivityPct = s.smActivity(d)
	return g
}

func figure(v float64, ret nvml.Return) Figure {
	if ret != nvml.SUCCESS {
		return missing[float64](why(ret))
	}
	return known(v)
}

// why words an NVML refusal for a report.
func why(ret nvml.Return) string {
	if ret == nvml.ERROR_NOT_SUPPORTED {
		return "unsupported by this GPU or driver (NVML: " + ret.Error() + ")"
	}
	return "NVML error: " + ret.Error()
}

// processMemory sums the memory of the watched compute processes.
func (s *nvmlSampler) processMemory(h nvml.Device) Figure {
	procs, ret := h.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return missing[float64](why(ret))
	}
	var sum float64
	for _, p := range procs {
		if !s.watched(int(p.Pid)) {
			continue
		}
		if p.UsedGpuMemory == math.MaxUint64 {
			return missing[float64](fmt.Sprintf("NVML does not report the memory of process %d (NVML_VALUE_NOT_AVAILABLE)", p.Pid))
		}
		sum += float64(p.UsedGpuMemory)
	}
	return known(sum)
}

// watched reports whether pid is one of the watched processes or descends
// from one.
func (s *nvmlSampler) watched(pid int) bool {
	if s.pids == nil {
		return true
	}
	for range 64 { // deeper trees than this are not SGLang's
		if s.pids[pid] {
			return true
		}
		if pid <= 1 {
			return false
		}
		var err error
		if pid, err = s.parent(pid); err != nil {
			return false // gone, or not in our PID namespace
		}
	}
	return false
}

// procParent reads a process's parent from /proc/PID/stat.
func procParent(pid int) (int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may contain spaces and ')'; the
	// fields after the last ')' are state and ppid.
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: no ppid field", pid)
	}
	return strconv.Atoi(f[1])
}

// smActivity takes a GPM sample and computes SM activity since the
// previous one.
func (s *nvmlSampler) smActivity(d *nvmlDevice) Figure {
	if d.gpmMissing != "" {
		return missing[float64](d.gpmMissing)
	}
	if ret := d.h.GpmSampleGet(d.cur); ret != nvml.SUCCESS {
		d.havePrev = false
		return missing[float64]("GPM sample: " + why(ret))
	}
	if !d.havePrev {
		d.prev, d.cur, d.havePrev = d.cur, d.prev, true
		return missing[float64](baseline)
	}
	m := d.metrics
	*m = nvml.GpmMetricsGetType{NumMetrics: 1, Sample1: d.prev, Sample2: d.cur}
	m.Metrics[0].MetricId = uint32(nvml.GPM_METRIC_SM_UTIL)
	ret := s.lib.GpmMetricsGet(m)
	d.prev, d.cur = d.cur, d.prev
	switch {
	case ret != nvml.SUCCESS:
		return missing[float64]("GPM metrics: " + why(ret))
	case nvml.Return(m.Metrics[0].NvmlReturn) != nvml.SUCCESS:
		return missing[float64]("GPM SM activity: " + why(nvml.Return(m.Metrics[0].NvmlReturn)))
	}
	return known(m.Metrics[0].Value)
}

// throttleReasons names NVML's clocks event reason bits.
var throttleReasons = []struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "gpu_idle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "applications_clocks_setting"},
	{nvml.ClocksEventReasonSwPowerCap, "sw_power_cap"},
	{nvml.ClocksThrottleReasonHwSlowdown, "hw_slowdown"},
	{nvml.ClocksEventReasonSyncBoost, "sync_boost"},
	{nvml.ClocksEventReasonSwThermalSlowdown, "sw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, "hw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
	{nvml.ClocksEventReasonDisplayClockSetting, "display_clock_setting"},
	{nvml.ClocksEventReasonBoardLimit, "board_limit"},
	{nvml.ClocksEventReasonReliability, "reliability"},
}

// throttleNames lists the reasons set in mask, in bit order; bits this
// table does not know are named by value.
func throttleNames(mask uint64) []string {
	names := []string{}
	for _, r := range throttleReasons {
		if mask&r.bit != 0 {
			names = append(names, r.name)
			mask &^= r.bit
		}
	}
	for mask != 0 {
		b := uint64(1) << bits.TrailingZeros64(mask)
		names = append(names, fmt.Sprintf("unknown_0x%x", b))
		mask &^= b
	}
	return names
}
