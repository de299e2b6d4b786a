//go:build !linux

package main

import "os/exec"

// setParentDeath is a no-op where the kernel offers no parent-death signal; the
// benchmark stops its processes itself when it ends.
func setParentDeath(*exec.Cmd) {}
