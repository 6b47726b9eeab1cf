package baseline

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

// GPUDriver returns the NVIDIA kernel driver's version from
// /proc/driver/nvidia/version (Linux with the driver loaded), such as
// "570.124.06".
func GPUDriver() (string, error) {
	data, err := os.ReadFile("/proc/driver/nvidia/version")
	if err != nil {
		return "", fmt.Errorf("gpu driver: %w", err)
	}
	return parseDriverVersion(data)
}

// driverVersion is the version in the NVRM line: "NVRM version: NVIDIA
// UNIX x86_64 Kernel Module  570.124.06  Wed Mar 5 ...", or "... Open
// Kernel Module for x86_64  570.124.06  Release Build ...".
var driverVersion = regexp.MustCompile(`(?m)^NVRM version:.*?\s(\d+\.\d+(?:\.\d+)?)\s`)

func parseDriverVersion(data []byte) (string, error) {
	m := driverVersion.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("gpu driver: /proc/driver/nvidia/version has no NVRM version line with a version number")
	}
	return string(m[1]), nil
}

// pseudoVersion matches a Go pseudo-version's tail (a commit's time and
// hash), which go build stamps on a binary built between release tags.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}`)

// DevelVersion is the sgltest_version of every build that is not a
// release.
const DevelVersion = "devel"

// SgltestVersion is the sgltest_version of a fingerprint for a binary whose
// main module has version v (debug.BuildInfo's Main.Version): v itself for
// a release such as "v0.4.0", and DevelVersion for anything else (a
// pseudo-version, a dirty tree, "(devel)", go test). A development build
// must keep one value across commits: a baseline committed next to the
// code is meant to gate the commits that follow it.
func SgltestVersion(v string) string {
	if v == "" || v == "(devel)" || strings.Contains(v, "+dirty") || pseudoVersion.MatchString(v) || !strings.HasPrefix(v, "v") {
		return DevelVersion
	}
	return v
}

// PackageVersion returns the version of the Python distribution named dist
// (such as "sglang_router" or "smg") installed in the virtual environment
// venv, read from its .dist-info directory's METADATA, without starting
// Python.
func PackageVersion(venv, dist string) (string, error) {
	norm := strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(dist))
	infos, err := filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages", "*.dist-info"))
	if err != nil {
		return "", err
	}
	for _, info := range infos {
		name, _, _ := strings.Cut(filepath.Base(info), "-")
		if strings.ToLower(name) != norm {
			continue
		}
		data, err := os.ReadFile(filepath.Join(info, "METADATA"))
		if err != nil {
			return "", fmt.Errorf("%s version: %w", dist, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Version:"); ok {
				return strings.TrimSpace(v), nil
			}
			if line == "" || line == "\r" {
				break // the headers end at the first empty line
			}
		}
		return "", fmt.Errorf("%s version: %s has no Version header", dist, filepath.Join(info, "METADATA"))
	}
	return "", fmt.Errorf("%s version: no %s-*.dist-info under %s", dist, norm, filepath.Join(venv, "lib", "python*", "site-packages"))
}
