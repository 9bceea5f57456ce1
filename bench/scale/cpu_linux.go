package main

import (
	"runtime"
	"syscall"
	"time"
)

// threadCPU runs f on one locked OS thread and returns the CPU time that
// thread spent (user + system). Waiting for the CPU does not count, so the
// figure holds up on a machine shared with other work, where wall-clock
// latencies do not.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const rusageThread = 1 // RUSAGE_THREAD
	var a, b syscall.Rusage
	if syscall.Getrusage(rusageThread, &a) != nil {
		f()
		return 0
	}
	f()
	if syscall.Getrusage(rusageThread, &b) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(b.Utime) - tv(a.Utime) + tv(b.Stime) - tv(a.Stime)
}
