package main

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel kill cmd when the benchmark dies, so no
// contender outlives an interrupted run.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
