package telemetry

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadingJSON_WritesAValueOrWhyNeverBoth(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"value", known(3.5), `{"value":3.5}`},
		{"zero is a value", known(0.0), `{"value":0}`},
		{"missing", missing[float64]("unsupported"), `{"missing":"unsupported"}`},
		{"no reasons", known([]string{}), `{"value":[]}`},
		{"reasons", known([]string{"sw_power_cap"}), `{"value":["sw_power_cap"]}`},
		{"stats", Stats{Count: 2, Mean: 1, P95: 1.5, Max: 2}, `{"count":2,"mean":1,"p95":1.5,"max":2}`},
		{"stats never read", Stats{Missing: "not modelled"}, `{"count":0,"missing":"not modelled"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("json = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReadingJSON_RoundTripsAGPUSample(t *testing.T) {
	g := GPU{At: 5, Index: 1, Name: "H100", UtilizationPct: known(50.0), PowerWatts: missing[float64]("unsupported"),
		ThrottleReasons: known([]string{"gpu_idle"}), SMActivityPct: missing[float64](baseline)}
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	// Figures left unset are zero Readings: a zero value, which JSON keeps.
	var back GPU
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	var r Figure
	if err := json.Unmarshal([]byte(`{}`), &r); err == nil {
		t.Error("a reading with neither value nor missing decoded")
	}
}

func TestUnavailable_FindsTheReasonThroughWrapping(t *testing.T) {
	err := fmt.Errorf("scenario: %w", &UnavailableError{Reason: "no GPU"})
	if reason, ok := Unavailable(err); !ok || reason != "no GPU" {
		t.Errorf("Unavailable = %q, %v", reason, ok)
	}
	if _, ok := Unavailable(fmt.Errorf("other")); ok {
		t.Error("an ordinary error counted as unavailable")
	}
	if got := (&UnavailableError{Reason: "no GPU"}).Error(); got != "GPU telemetry unavailable: no GPU" {
		t.Errorf("Error() = %q", got)
	}
}
