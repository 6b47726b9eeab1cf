// Package figures is the one registry of the numbers a scenario can bound:
// each figure's name as QA writes it, its unit, what it means, and how to
// read it from a finished run, for the whole run, one server, or a window
// of time. Then steps, the summary's list of bounds and the vocabulary all
// read this table, so a new figure is added here and nowhere else.
//
// Read figures.go: the table (Defs), Lookup, and Value; then stat.go for
// statistics of latency distributions (mean, median, P50 to P99.9, ...)
// and bound.go for a bound (figure, comparison, value, unit) and its
// verdict.
package figures
