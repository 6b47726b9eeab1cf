package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"
	messages "github.com/cucumber/messages/go/v34"
	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/load"
)

func table(rows ...[]string) *godog.Table {
	t := &godog.Table{}
	for _, r := range rows {
		row := &messages.PickleTableRow{}
		for _, c := range r {
			row.Cells = append(row.Cells, &messages.PickleTableCell{Value: c})
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func TestParsePhasesReadsEachKindAndNamesBadRows(t *testing.T) {
	head := []string{"phase", "duration", "rate"}
	tests := []struct {
		name    string
		rows    [][]string
		want    []load.Phase
		wantErr string
	}{
		{
			name: "ramp, step, soak and burst in order",
			rows: [][]string{head, {"ramp", "2s", "1 to 20"}, {"step", "1s", "5"}, {"soak", "30 s", "20"}, {"burst", "", "50"}},
			want: []load.Phase{load.Ramp(2*time.Second, 1, 20), load.Step(time.Second, 5), load.Soak(30*time.Second, 20), load.Burst(50)},
		},
		{name: "a wrong header is named", rows: [][]string{{"kind", "duration", "rate"}, {"soak", "1s", "1"}}, wantErr: "expected | phase | duration | rate |"},
		{name: "a ramp without 'to' names its row", rows: [][]string{head, {"soak", "1s", "1"}, {"ramp", "1s", "5"}}, wantErr: "row 2 (ramp)"},
		{name: "a missing duration is rejected", rows: [][]string{head, {"soak", "", "1"}}, wantErr: "duration"},
		{name: "an unknown phase is rejected", rows: [][]string{head, {"spike", "1s", "1"}}, wantErr: "expected ramp, step, soak or burst"},
		{name: "a header alone is not a program", rows: [][]string{head}, wantErr: "at least one phase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePhases(table(tc.rows...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
		})
	}
}
