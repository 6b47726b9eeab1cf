package load

import (
	"context"
	"time"
)

// SleepLags sleeps to each of offsets in turn as Play's arrival loop does
// (the same Clock, the same timer slack) and does nothing else, returning
// how late each wake-up was. Run beside a load, it is the host's floor
// under the generator's schedule lag: what a thread that only sleeps gets
// from this machine's schedulers (the kernel's and, in a virtual machine,
// the hypervisor's) at the same moment. It returns the lags so far and
// ctx's error if ctx ends first.
func SleepLags(ctx context.Context, offsets Offsets) ([]time.Duration, error) {
	restore := preciseSleeps()
	defer restore()
	clock := &Clock{start: time.Now()}
	lags := make([]time.Duration, 0, len(offsets))
	for i := range offsets {
		at, err := offsets.Arrive(ctx, i, clock)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return lags, err
		}
		lags = append(lags, clock.Now()-at)
	}
	return lags, nil
}
