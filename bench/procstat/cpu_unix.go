//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// CPU is the process's CPU time so far: user plus system, all threads
// (getrusage RUSAGE_SELF).
func CPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
