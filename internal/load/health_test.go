package load

import "testing"

func TestARunIsBusyOnlyWhenEveryReasonIsTheHosts(t *testing.T) {
	tests := []struct {
		name      string
		busy      []bool // one Invalidate (false) or InvalidateBusy (true) each
		wantBusy  bool
		wantValid bool
	}{
		{name: "a valid run is not busy", busy: nil, wantBusy: false, wantValid: true},
		{name: "one host reason", busy: []bool{true}, wantBusy: true},
		{name: "two host reasons", busy: []bool{true, true}, wantBusy: true},
		{name: "a host reason, then the scenario's own", busy: []bool{true, false}, wantBusy: false},
		{name: "the scenario's own reason, then a host reason", busy: []bool{false, true}, wantBusy: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Health{Valid: true}
			for _, b := range tc.busy {
				if b {
					h.InvalidateBusy("late")
				} else {
					h.Invalidate("bound")
				}
			}
			if h.Busy != tc.wantBusy || h.Valid != tc.wantValid {
				t.Errorf("busy %v valid %v (%q), want busy %v valid %v", h.Busy, h.Valid, h.Reason, tc.wantBusy, tc.wantValid)
			}
		})
	}
	t.Run("a run with no load is not busy", func(t *testing.T) {
		var h Health // never played: not valid, no reason yet
		h.InvalidateBusy("late")
		h.Invalidate("no load was sent")
		if h.Busy {
			t.Errorf("busy with reasons %q", h.Reason)
		}
	})
}
