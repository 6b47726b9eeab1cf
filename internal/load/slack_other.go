//go:build !linux

package load

// preciseSleeps does nothing where the timer slack cannot be set.
func preciseSleeps() (restore func()) { return func() {} }
