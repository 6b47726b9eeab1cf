// Package processes carries out a plan in wall-clock time with real
// processes: it launches the servers (real SGLang or the simulator) and the
// real router when there is one, scrapes every server's /metrics while the
// load generator plays the work, applies the plan's timeline (kill, stop,
// pause, restore, restart) at its instants, and watches every child: a
// server or router that exits, or stops answering, when nothing planned it
// stops the run at once with what happened, never a hang.
//
// Read executor.go first (Execute: launch, watch, play, stop), then
// actions.go (the timeline applied to processes) and watch.go (unplanned
// exits, stalls, health as sgltest's dispatcher sees it, the deadline);
// pd.go gives the router in PD mode the prefill servers' bootstrap ports.
// Records, events and scrapes stream into a timeline.Observer; every
// offset is from the load generator's start instant on the monotonic
// clock, and what happened before it (servers starting) has a negative
// offset.
package processes
