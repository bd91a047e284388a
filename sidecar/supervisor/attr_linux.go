package supervisor

import "syscall"

// childAttr: the child is killed if the supervisor dies, so no resolver outlives its supervisor
// (a second one, started by the kubelet's container restart, would find its ports taken).
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
