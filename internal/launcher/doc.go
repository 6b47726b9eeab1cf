// Package launcher starts SGLang servers, real or simulated, as child
// processes; waits until they are ready; keeps their logs; and stops them
// without leaving orphans.
//
// Read config.go first: Config is the typed description of a server, and
// Config.Command turns it into the exact argv and environment, the same
// SGLang flags for both backends (`python -m sglang.launch_server ...` or
// `<sgltest> sim ...`), so the simulator is launched through the code path
// real SGLang uses. The authority for flags, GPU choice and readiness is
// shared/sglang-reference.md, sections 1.3 to 1.5.
//
// Then launcher.go: Launcher.Start picks a port if none was given, forks
// the child with its output appended to <logDir>/<name>.log, and polls
// GET /health until it answers 200, failing fast if the child exits, the
// ready timeout passes or the context ends. server.go has Stop: SIGTERM to
// the child's process group, SIGKILL after a grace period.
//
// No orphans: each child leads its own process group, so a stop reaches
// the subprocesses SGLang spawns; the Launcher tracks every live server, so
// a deferred StopAll cleans up after success, failure, timeout or panic;
// and on Linux the kernel SIGKILLs a child whose parent died without
// stopping it (proc_linux.go explains why that needs a dedicated thread).
// Wiring Ctrl-C to a context cancel or to StopAll is the caller's job.
//
// router.go starts the real SGLang router (sglang-router 0.3.2 or smg, the
// release the Makefile pins) in front of running servers through the same
// process handling, ready once its /workers lists every server healthy
// (router-reference.md); routerinfo.go asks the installed router for its
// release and its --policy choices before anything starts.
//
// pd.go is PD disaggregation: a server's --disaggregation-* flags (Start
// picks a prefill server's bootstrap port as it picks ports), the router's
// PD mode (RouterConfig.PD: --pd-disaggregation, each prefill server with
// its bootstrap port, the decode servers, the two policies) and the
// installed router's PD policy choices.
package launcher
