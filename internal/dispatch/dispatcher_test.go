package dispatch_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/router"
)

func TestNewRejectsBadWorkersNamingThem(t *testing.T) {
	tests := []struct {
		name    string
		workers []string
		want    string
	}{
		{"none", nil, "no workers"},
		{"not a URL", []string{"127.0.0.1:30000"}, `worker 0: "127.0.0.1:30000"`},
		{"duplicate", []string{"http://a", "http://a"}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := dispatch.New(&router.RoundRobin{}, tt.workers, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// pickOutOfRange is a broken custom policy.
type pickOutOfRange struct{}

func (pickOutOfRange) Pick(router.Request, []router.Worker) (int, error) { return 7, nil }

func TestPickRejectsAnIndexOutsideTheWorkers(t *testing.T) {
	d, err := dispatch.New(pickOutOfRange{}, []string{"http://a", "http://b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pick(router.Request{}); err == nil || !strings.Contains(err.Error(), "picked worker 7 of 2") {
		t.Errorf("err = %v, want one naming the bad index", err)
	}
}

func TestPickCountsInFlightUntilDone(t *testing.T) {
	d, err := dispatch.New(router.ShortestQueue{}, []string{"http://a", "http://b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 3 {
		w, err := d.Pick(router.Request{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, w)
	}
	d.Done(1)
	w, _ := d.Pick(router.Request{})
	got = append(got, w)
	// a, b, a (tie → first), then b once its request is done.
	if want := []int{0, 1, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("picks = %v, want %v", got, want)
	}
}
