package load

import (
	"runtime"
	"syscall"
)

// Linux prctl options for the calling thread's timer slack: how late the
// kernel may end its sleeps to group wake-ups (50 µs by default).
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// preciseSleeps pins the calling goroutine to its thread and sets the
// thread's timer slack to 1 ns, so that the arrival loop's nanosleeps end
// when asked rather than up to 50 µs later; the returned function restores
// both. Without it, that default slack is the median schedule lag.
func preciseSleeps() (restore func()) {
	runtime.LockOSThread()
	old, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		runtime.UnlockOSThread()
		return func() {}
	}
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return func() {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, old, 0)
		runtime.UnlockOSThread()
	}
}
