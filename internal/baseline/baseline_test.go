package baseline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/gate"
)

const scenario = "a moderate Poisson load on one simulated GPU"

func simFingerprint() Fingerprint {
	return Fingerprint{
		Backend: "sim", Clock: "virtual", SimProfile: "llama-3.1-8b-h100", Model: "meta-llama/Llama-3.1-8B-Instruct",
		SGLangVersion: "0.5.2", CPUModel: "AMD EPYC 7763 64-Core Processor", SgltestVersion: "v0.4.0",
	}
}

func sample(fp Fingerprint, saved time.Time, scale float64) Baseline {
	ttft, _ := gate.Lookup("ttft_ms.p99")
	out, _ := gate.Lookup("output_throughput")
	return Baseline{
		Fingerprint: fp, SavedAt: saved, Repeats: 3, Seeds: []uint64{1, 2, 3},
		Runs: []string{"reports/r1", "reports/r2", "reports/r3"},
		Figures: []gate.Series{
			{Figure: ttft, Values: []float64{52.5 * scale, 49.1 * scale, 55.0 * scale}},
			{Figure: out, Values: []float64{1368, 1290, 1411}},
		},
	}
}

var t0 = time.Date(2026, 11, 20, 14, 3, 0, 0, time.UTC)

func TestSaveThenLoadGivesTheSameBaseline(t *testing.T) {
	dir := t.TempDir()
	path, err := Path(filepath.Join(dir, "baselines"), scenario)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "baselines", "a-moderate-poisson-load-on-one-simulated-gpu.json"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	b := sample(simFingerprint(), t0, 1)
	prev, err := Save(path, scenario, b)
	if err != nil || prev != nil {
		t.Fatalf("Save = %v, %v", prev, err)
	}
	got, err := Load(path, scenario, simFingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got); d != "" {
		t.Errorf("loaded baseline differs (-saved +loaded):\n%s", d)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the baseline (no temporary files)", len(entries))
	}
	if set := got.Set("baselines/x.json"); set.Label != "baselines/x.json (saved 2026-11-20 14:03 UTC)" || len(set.Series) != 2 {
		t.Errorf("Set = %+v", set)
	}
}

func TestSaveReplacesOnlyTheEntryWithTheSameFingerprint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	gpu := simFingerprint()
	gpu.Backend, gpu.Clock, gpu.SimProfile, gpu.GPUModel, gpu.GPUDriver = "sglang", "real", "", "NVIDIA H100 80GB HBM3", "570.124.06"
	if _, err := Save(path, scenario, sample(simFingerprint(), t0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := Save(path, scenario, sample(gpu, t0.Add(time.Hour), 1)); err != nil {
		t.Fatal(err)
	}
	prev, err := Save(path, scenario, sample(simFingerprint(), t0.Add(2*time.Hour), 2))
	if err != nil {
		t.Fatal(err)
	}
	if prev == nil || !prev.SavedAt.Equal(t0) {
		t.Errorf("previous = %+v, want the first sim baseline", prev)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Baselines) != 2 {
		t.Fatalf("%d baselines, want 2 (sim and GPU)", len(f.Baselines))
	}
	sim, err := Load(path, scenario, simFingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if sim.Figures[0].Values[0] != 105 {
		t.Errorf("sim baseline not replaced: %v", sim.Figures[0].Values)
	}
	if g, err := Load(path, scenario, gpu); err != nil || !g.SavedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("GPU baseline: %v, %v", g.SavedAt, err)
	}
}

func TestLoadRefusesAnotherFingerprintNamingExactlyTheFieldsThatDiffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if _, err := Save(path, scenario, sample(simFingerprint(), t0, 1)); err != nil {
		t.Fatal(err)
	}
	now := simFingerprint()
	now.SGLangVersion, now.CPUModel = "0.5.3", "Intel(R) Xeon(R) Platinum 8480+"
	_, err := Load(path, scenario, now)
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("error %v, want a *MismatchError", err)
	}
	want := []Difference{
		{Field: "sglang_version", Baseline: "0.5.2", Current: "0.5.3"},
		{Field: "cpu_model", Baseline: "AMD EPYC 7763 64-Core Processor", Current: "Intel(R) Xeon(R) Platinum 8480+"},
	}
	if len(mm.Entries) != 1 {
		t.Fatalf("%d entries", len(mm.Entries))
	}
	if d := cmp.Diff(want, mm.Entries[0].Differences); d != "" {
		t.Errorf("differences (-want +got):\n%s", d)
	}
	msg := err.Error()
	for _, s := range []string{
		`sglang_version: baseline "0.5.2", this run "0.5.3"`,
		`cpu_model: baseline "AMD EPYC 7763 64-Core Processor", this run "Intel(R) Xeon(R) Platinum 8480+"`,
		"was recorded under a different fingerprint",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	for _, s := range []string{"backend", "sim_profile", "sgltest_version"} {
		if strings.Contains(msg, s+":") {
			t.Errorf("message names %s, which matches:\n%s", s, msg)
		}
	}
}

func TestLoadAndSaveRefuseAnotherScenariosFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if _, err := Save(path, "smoke!", sample(simFingerprint(), t0, 1)); err != nil {
		t.Fatal(err)
	}
	want := `holds scenario "smoke!", not "smoke?"`
	if _, err := Load(path, "smoke?", simFingerprint()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load: %v", err)
	}
	if _, err := Save(path, "smoke?", sample(simFingerprint(), t0, 1)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Save: %v", err)
	}
}

func TestLoadOfAMissingFileWrapsErrNotExist(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.json"), scenario, simFingerprint())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("error %v", err)
	}
}

func TestReadRefusesBadFilesNamingWhatIsWrong(t *testing.T) {
	good, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"another schema version", `"schema_version": 1`, `"schema_version": 2`, "schema_version is 2; this sgltest reads version 1"},
		{"no schema version", `"schema_version": 1,`, ``, "schema_version is missing"},
		{"unknown field", `"repeats": 5,`, `"repeats": 5, "colour": "red",`, `unknown field "colour"`},
		{"bad direction", `"worse": "higher"`, `"worse": "up"`, `worse must be "higher" or "lower", got "up"`},
		{"too few values", `"values": [26.61, 26.12, 27.03, 26.44, 26.9]`, `"values": [26.61, 26.12]`, "figure ttft_ms.median: 2 values for 5 repeats"},
		{"negative value", `26.12,`, `-26.12,`, "figure ttft_ms.median: repeat 2 is -26.12"},
		{"no sgltest version", `"sgltest_version": "v0.4.0"`, `"sgltest_version": ""`, "baselines[0]: fingerprint lacks sgltest_version"},
		{"trailing data", "\n}\n", "\n}\n{}", "after top-level value"},
		{"no saved_at", `"saved_at": "2026-11-20T14:03:00Z",`, ``, "baselines[0]: saved_at is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Replace(string(good), tt.from, tt.to, 1)
			if data == string(good) {
				t.Fatalf("%q not in the example", tt.from)
			}
			path := filepath.Join(t.TempDir(), "b.json")
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s and containing %q", err, path, tt.want)
			}
		})
	}
}

// TestExampleIsAValidFile keeps the documented example readable.
func TestExampleIsAValidFile(t *testing.T) {
	f, err := Read("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.Scenario != scenario || len(f.Baselines) != 1 || len(f.Baselines[0].Figures) != 6 {
		t.Errorf("example: %+v", f)
	}
}

func TestSaveLeavesTheFileUntouchedWhenTheBaselineIsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	if _, err := Save(path, scenario, sample(simFingerprint(), t0, 1)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := sample(simFingerprint(), t0, 1)
	bad.Figures[1].Values = bad.Figures[1].Values[:2]
	if _, err := Save(path, scenario, bad); err == nil || !strings.Contains(err.Error(), "figure output_throughput: 2 values for 3 repeats") {
		t.Errorf("error %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("an invalid baseline changed the file")
	}
}

func TestSlugNamesTheFileAfterTheScenario(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"A moderate Poisson load on one simulated GPU", "a-moderate-poisson-load-on-one-simulated-gpu"},
		{"  shortest_queue @ 40 req/s!  ", "shortest-queue-40-req-s"},
		{strings.Repeat("long name ", 20), strings.TrimRight(strings.Repeat("long-name-", 8), "-")},
	} {
		if got, err := Slug(tt.in); err != nil || got != tt.want {
			t.Errorf("Slug(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Slug("!!!"); err == nil {
		t.Error(`Slug("!!!") gave no error`)
	}
}

func TestParseCPUInfoFindsTheModel(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n", "Intel(R) Xeon(R) Platinum 8480+"},
		{"arm", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd4f\n", "0xd4f"},
	} {
		if got, err := parseCPUInfo([]byte(tt.in)); err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := parseCPUInfo([]byte("processor : 0\n")); err == nil {
		t.Error("no model line gave no error")
	}
}

func TestParseDriverVersionReadsTheNVRMLine(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.06  Wed Mar  5 02:07:08 UTC 2025\nGCC version:  gcc version 12.2.0\n", "570.124.06"},
		{"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:15:33 UTC 2024\n", "550.54.15"},
		{"NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.104  Sat Aug 19 01:15:16 UTC 2023\n", "535.104"},
	}
	for _, tc := range tests {
		got, err := parseDriverVersion([]byte(tc.file))
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.file, got, err, tc.want)
		}
	}
	if _, err := parseDriverVersion([]byte("GCC version: 12\n")); err == nil {
		t.Error("a file without an NVRM line gave a version")
	}
}

func TestSgltestVersionKeepsReleasesAndFoldsEveryOtherBuildIntoDevel(t *testing.T) {
	for in, want := range map[string]string{
		"v0.4.0":                               "v0.4.0",
		"v1.2.3-rc.1":                          "v1.2.3-rc.1",
		"(devel)":                              DevelVersion,
		"":                                     DevelVersion,
		"v0.4.1-0.20261120140300-abcdef123456": DevelVersion,
		"v0.0.0-20261120140300-abcdef123456":   DevelVersion,
		"v0.4.0+dirty":                         DevelVersion,
	} {
		if got := SgltestVersion(in); got != want {
			t.Errorf("SgltestVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPackageVersionReadsTheDistInfoOfTheVenv(t *testing.T) {
	venv := t.TempDir()
	info := filepath.Join(venv, "lib", "python3.11", "site-packages", "sglang_router-0.3.2.dist-info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := "Metadata-Version: 2.1\nName: sglang-router\nVersion: 0.3.2\nSummary: x\n\nVersion: 9.9.9 in the description\n"
	if err := os.WriteFile(filepath.Join(info, "METADATA"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := PackageVersion(venv, "sglang-router"); err != nil || v != "0.3.2" {
		t.Errorf("PackageVersion = %q, %v; want 0.3.2", v, err)
	}
	if _, err := PackageVersion(venv, "smg"); err == nil || !strings.Contains(err.Error(), "no smg-*.dist-info") {
		t.Errorf("a package that is not installed: %v", err)
	}
}
