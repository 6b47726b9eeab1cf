//go:build !linux

package monotime

import "time"

// kernelSleep falls back on the Go timer where nanosleep is not available
// through package syscall (macOS): the last stretch may then be up to a
// millisecond late, which the load generator's self-check reports.
func kernelSleep(d time.Duration) { time.Sleep(d) }
