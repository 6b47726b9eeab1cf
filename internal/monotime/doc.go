// Package monotime sleeps until an instant on the monotonic clock with
// sub-millisecond precision, for the two places where lateness is an
// error in the figures: the load generator's arrivals and the simulator's
// step ends.
//
// Read sleep.go first; sleep_linux.go is the kernel sleep it ends with.
package monotime
