//go:build unix && !linux

package launcher

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts the child in a new process group so Stop can signal
// everything it spawned. Outside Linux there is no Pdeathsig, so a child
// outlives a parent that dies without calling Stop or StopAll.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }

// groupAlive reports whether process group pgid has a member; zombies count.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) != syscall.ESRCH
}
