package monotime

import (
	"syscall"
	"time"
)

// kernelSleep blocks the calling thread for d in the kernel; an interrupted
// sleep returns early and the caller sleeps the rest.
func kernelSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
