package baseline

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Fingerprint is what makes two runs' numbers comparable. Two fingerprints
// match only when every field is equal; an empty field means "not
// applicable" (no GPU on the simulator, no router for a single server) and
// matches only another empty field.
type Fingerprint struct {
	// Backend is "sim" (sgltest's simulator) or "sglang" (real SGLang).
	Backend string `json:"backend"`
	// Clock is "virtual" (discrete-event simulation) or "real".
	Clock string `json:"clock"`
	// SimProfile is the simulator profile's name, or the file it was read
	// from, with the simulator.
	SimProfile string `json:"sim_profile"`
	// Model is the served model (--model-path).
	Model string `json:"model"`
	// GPUModel and GPUDriver describe the accelerator on real SGLang, e.g.
	// "NVIDIA H100 80GB HBM3" and "570.124.06".
	GPUModel  string `json:"gpu_model"`
	GPUDriver string `json:"gpu_driver"`
	// SGLangVersion is the version of SGLang served (the simulator's is the
	// SGLang version it imitates).
	SGLangVersion string `json:"sglang_version"`
	// Router is who routes and its version, e.g. "sglang-router 0.3.2",
	// "smg 1.9.0" or "dispatcher"; empty without routing.
	Router string `json:"router"`
	// CPUModel is the load generator host's CPU (CPUModel reads it).
	CPUModel string `json:"cpu_model"`
	// SgltestVersion is the version of sgltest that measured.
	SgltestVersion string `json:"sgltest_version"`
}

// fields lists the fingerprint's fields by their JSON names, in order.
func (f *Fingerprint) fields() []struct {
	name string
	v    *string
} {
	return []struct {
		name string
		v    *string
	}{
		{"backend", &f.Backend}, {"clock", &f.Clock}, {"sim_profile", &f.SimProfile}, {"model", &f.Model},
		{"gpu_model", &f.GPUModel}, {"gpu_driver", &f.GPUDriver}, {"sglang_version", &f.SGLangVersion},
		{"router", &f.Router}, {"cpu_model", &f.CPUModel}, {"sgltest_version", &f.SgltestVersion},
	}
}

// Difference is one field in which two fingerprints differ.
type Difference struct {
	Field    string // the JSON name, e.g. "sglang_version"
	Baseline string
	Current  string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: baseline %q, this run %q", d.Field, d.Baseline, d.Current)
}

// Diff lists the fields in which current differs from f (the baseline's),
// in field order; none means the fingerprints match.
func (f Fingerprint) Diff(current Fingerprint) []Difference {
	var out []Difference
	a, b := f.fields(), current.fields()
	for i := range a {
		if *a[i].v != *b[i].v {
			out = append(out, Difference{Field: a[i].name, Baseline: *a[i].v, Current: *b[i].v})
		}
	}
	return out
}

func (f Fingerprint) check() error {
	var missing []string
	if f.Backend == "" {
		missing = append(missing, "backend")
	}
	if f.Clock == "" {
		missing = append(missing, "clock")
	}
	if f.SgltestVersion == "" {
		missing = append(missing, "sgltest_version")
	}
	if len(missing) > 0 {
		return fmt.Errorf("fingerprint lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// CPUModel returns this host's CPU model from /proc/cpuinfo (Linux).
func CPUModel() (string, error) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", fmt.Errorf("cpu model: %w", err)
	}
	return parseCPUInfo(data)
}

// parseCPUInfo returns the first "model name" (x86) or, failing that, the
// "Hardware" or "CPU part" line (Arm) of a /proc/cpuinfo.
func parseCPUInfo(data []byte) (string, error) {
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := found[k]; !seen && v != "" {
			found[k] = v
		}
	}
	for _, k := range []string{"model name", "Hardware", "CPU part"} {
		if v, ok := found[k]; ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("cpu model: /proc/cpuinfo has no %q, %q or %q line", "model name", "Hardware", "CPU part")
}
