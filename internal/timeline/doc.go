// Package timeline is what happens on a run's time axis and how it reaches
// the report: the Observer that an executor streams a run into (each
// finished request's Record, each Event such as a server killed or back,
// each scrape of a server's state), and the Event type itself.
//
// Read event.go first (Event and its kinds), then observer.go (Observer and
// Fanout). Planned actions (kill server 2 at 10 s) are part of the plan
// (package plan); what actually happened, and when, is an Event here.
// Every At is an offset from the run's start instant on the monotonic clock
// (or the simulation's clock in virtual time), like metrics.Record's times.
package timeline
