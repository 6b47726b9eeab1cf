package simulator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProfiles_EmbeddedProfilesLoadUnderTheirOwnNames(t *testing.T) {
	want := []string{"llama-3.1-70b-h100", "llama-3.1-8b-a100", "llama-3.1-8b-h100"}
	if diff := cmp.Diff(want, ProfileNames()); diff != "" {
		t.Fatalf("ProfileNames (-want +got):\n%s", diff)
	}
	for _, name := range want {
		if p := mustProfile(t, name); p.Name != name {
			t.Errorf("profile file %s.json names itself %q", name, p.Name)
		}
	}
	if !slices.Contains(ProfileNames(), DefaultProfile) {
		t.Errorf("default profile %q is not embedded", DefaultProfile)
	}
}

func TestLoadProfile_UnknownNameListsAvailable(t *testing.T) {
	_, err := LoadProfile("gpt-5-b200")
	if err == nil {
		t.Fatal("unknown profile loaded")
	}
	for _, name := range ProfileNames() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %s", err, name)
		}
	}
}

func TestLoadProfile_ReadsAJSONFile(t *testing.T) {
	if p := mustProfile(t, fastProfile); p.Name != "fast-test" {
		t.Errorf("loaded %q from %s", p.Name, fastProfile)
	}
	if _, err := LoadProfile(filepath.Join(t.TempDir(), "absent.json")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestParseProfile_ErrorsNameFileAndField(t *testing.T) {
	base, err := os.ReadFile(fastProfile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		field  string
		reason string
	}{
		{"missing parameter", func(m map[string]any) { delete(group(m, "step_time"), "gemm_flops_per_s") },
			"step_time.gemm_flops_per_s", "is missing"},
		{"negative parameter", func(m map[string]any) { param(m, "step_time", "t_step_s")["value"] = -1.0 },
			"step_time.t_step_s", "must not be negative"},
		{"zero bandwidth", func(m map[string]any) { param(m, "step_time", "kv_bandwidth_bytes_per_s")["value"] = 0.0 },
			"step_time.kv_bandwidth_bytes_per_s", "must be positive"},
		{"no provenance", func(m map[string]any) { param(m, "capacity", "max_total_tokens")["provenance"] = "" },
			"capacity.max_total_tokens", "has no provenance"},
		{"fractional token count", func(m map[string]any) { param(m, "model", "context_length")["value"] = 10.5 },
			"model.context_length", "must be a whole number"},
		{"fraction above one", func(m map[string]any) { param(m, "capacity", "mem_fraction_static")["value"] = 1.5 },
			"capacity.mem_fraction_static", "must be in (0, 1]"},
		{"missing name", func(m map[string]any) { delete(m, "name") }, "name", "is missing"},
		{"misspelt key", func(m map[string]any) { group(m, "frontend")["t_fe_in"] = 1 }, "t_fe_in", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(base, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			data, _ := json.Marshal(m)
			_, err := ParseProfile("bad.json", data)
			if err == nil {
				t.Fatal("invalid profile accepted")
			}
			for _, part := range []string{"bad.json", tt.field, tt.reason} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
}

func group(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }

func param(m map[string]any, g, name string) map[string]any {
	return group(m, g)[name].(map[string]any)
}
