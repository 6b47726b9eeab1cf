package runner

import (
	"github.com/sgltest/sgltest/internal/load"
	"strings"
	"testing"
	"time"
)

func TestSettingsFromEnvReadsTheSuiteWideSelfCheckBounds(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantLag time.Duration
		wantCPU float64
		// wantLate is the simulators' bound the executor gets.
		wantLate   float64
		wantReruns int
		wantErr    string
	}{
		{name: "unset leaves the defaults", env: map[string]string{}, wantLate: 0.01},
		{name: "a lag bound and a CPU bound", env: map[string]string{EnvMaxScheduleLag: "50ms", EnvMaxCPUBusy: "0.98"}, wantLag: 50 * time.Millisecond, wantCPU: 0.98, wantLate: 0.01},
		{name: "a late-steps bound for the simulators", env: map[string]string{EnvMaxLateSteps: "0.05"}, wantLate: 0.05},
		{name: "a late-steps bound of every step", env: map[string]string{EnvMaxLateSteps: "1"}, wantErr: "SGLTEST_MAX_LATE_STEPS=\"1\": expected a fraction of the steps in (0, 1)"},
		{name: "a late-steps bound given as a percentage", env: map[string]string{EnvMaxLateSteps: "2%"}, wantErr: "expected a fraction of the steps"},
		{name: "two reruns of runs the host could not measure", env: map[string]string{EnvInvalidReruns: "2"}, wantLate: 0.01, wantReruns: 2},
		{name: "a negative number of reruns", env: map[string]string{EnvInvalidReruns: "-1"}, wantErr: "SGLTEST_INVALID_RERUNS=\"-1\": expected a whole number of reruns from 0 to 10"},
		{name: "reruns that are not a number", env: map[string]string{EnvInvalidReruns: "twice"}, wantErr: "expected a whole number of reruns"},
		{name: "a lag bound that is not a duration", env: map[string]string{EnvMaxScheduleLag: "50"}, wantErr: "SGLTEST_MAX_SCHEDULE_LAG=\"50\": expected a positive duration"},
		{name: "a zero lag bound", env: map[string]string{EnvMaxScheduleLag: "0s"}, wantErr: "expected a positive duration"},
		{name: "a CPU bound above all cores", env: map[string]string{EnvMaxCPUBusy: "1.5"}, wantErr: "SGLTEST_MAX_CPU_BUSY=\"1.5\": expected a fraction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvMaxScheduleLag, EnvMaxCPUBusy, EnvMaxLateSteps, EnvInvalidReruns} {
				t.Setenv(k, tc.env[k])
			}
			s, err := SettingsFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.MaxScheduleLag != tc.wantLag || s.MaxCPUBusy != tc.wantCPU {
				t.Errorf("got lag %v cpu %v, want %v %v", s.MaxScheduleLag, s.MaxCPUBusy, tc.wantLag, tc.wantCPU)
			}
			if s.InvalidReruns != tc.wantReruns {
				t.Errorf("got %d invalid reruns, want %d", s.InvalidReruns, tc.wantReruns)
			}
			if b := s.lateness(); b.MaxFraction != tc.wantLate || b.Late != 5*time.Millisecond {
				t.Errorf("got simulator bound %+v, want %v of steps more than 5ms late", b, tc.wantLate)
			}
		})
	}
}

func TestScenarioSentenceWinsOverTheSuiteSettingForTheLagBound(t *testing.T) {
	s := &Suite{Settings: Settings{MaxScheduleLag: 50 * time.Millisecond, MaxCPUBusy: 0.9}}
	tt := s.NewTest("x")
	if got := tt.selfCheck(); got.MaxScheduleLag != 50*time.Millisecond || got.MaxCPUBusy != 0.9 {
		t.Errorf("suite setting: got %+v", got)
	}
	tt.SetClient(Client{Bounds: load.Bounds{MaxScheduleLag: 5 * time.Millisecond}})
	if got := tt.selfCheck(); got.MaxScheduleLag != 5*time.Millisecond {
		t.Errorf("scenario sentence: got %+v", got)
	}
}
