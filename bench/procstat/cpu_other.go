//go:build !unix

package procstat

import "time"

// CPU is not available on this platform.
func CPU() (time.Duration, error) { return 0, ErrUnsupported }
