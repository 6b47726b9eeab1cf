// Package plan is what one run will do, as a plain value: the servers with
// their resolved launch configuration, who routes, the prompts, when they
// arrive, how they are sent, the seed, the clock, the limits and the
// timeline of planned actions (kill server 2 at 10 s, restore it at 20 s).
//
// Read plan.go first (Plan, Validate), then workload.go (Dataset, Arrival,
// Client and Work, the requests and their schedule), then action.go (the
// timeline), and pd.go for PD disaggregation (server roles, the router's
// PD mode, and what Validate refuses about them). A scenario's steps fill a Plan; Validate checks all of it
// before anything launches; an executor (processes in wall-clock time, or
// the simulator's engines in virtual time) carries it out; the report
// writes it as config.json.
package plan
