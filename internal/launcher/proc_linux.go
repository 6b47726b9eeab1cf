package launcher

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// sysProcAttr puts the child in a new process group whose id is its pid, so
// Stop can signal everything it spawned (SGLang runs its schedulers and
// detokenizer as subprocesses), and asks the kernel to SIGKILL the child if
// its parent goes away without stopping it.
//
// Pdeathsig's "parent" is the OS thread that forked, not the process: the
// signal fires when that thread exits, and the Go runtime ends a thread
// whenever a goroutine locked to it returns. startCmd therefore forks only
// from one goroutine that locks its thread and never returns, so the thread
// lives exactly as long as our process. Pdeathsig covers the direct child
// only: its own children are reached by Stop's group signal, not by this.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

// startCmd starts cmd from the spawner thread (see sysProcAttr).
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go spawner()
	})
	req := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnRequests <- req
	return <-req.done
}

func spawner() {
	runtime.LockOSThread() // never unlocked: see sysProcAttr
	for req := range spawnRequests {
		req.done <- req.cmd.Start()
	}
}

// groupAlive reports whether process group pgid has a member that is not a
// zombie. kill(-pgid, 0) alone is not enough: it succeeds for zombies, and
// an orphaned grandchild stays a zombie for good where PID 1 does not reap
// (as in some containers), although it holds no resources any more.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; assume the worst
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, ok := procStat(pid)
		if ok && pgrp == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// procStat reads a process's state letter and process group from
// /proc/<pid>/stat. The command name in parentheses may contain spaces and
// parentheses, so fields are counted from the last ')'.
func procStat(pid int) (state byte, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	// After ") ": state ppid pgrp ...
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pgrp, true
}
