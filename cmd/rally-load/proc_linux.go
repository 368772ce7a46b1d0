package main

import "syscall"

// childAttr makes a started Rally die with the tool: if the tool itself is
// killed, no server is left running on a temporary folder.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
