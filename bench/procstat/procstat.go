// Package procstat reads the resource usage of the running process for
// `driftd bench`: CPU time (user + system, all threads, from getrusage)
// and resident memory (from /proc/self/status on Linux).
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strconv"
)

// ErrUnsupported is returned where the platform does not offer a figure.
var ErrUnsupported = errors.New("procstat: not supported on this platform")

// status reads a "Key:   N kB" line of /proc/self/status, in bytes.
func status(key string) (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, ErrUnsupported
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != key {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, err
		}
		if len(f) > 1 && string(f[1]) == "kB" {
			n *= 1024
		}
		return n, nil
	}
	return 0, ErrUnsupported
}

// RSS is the current resident set size in bytes (VmRSS).
func RSS() (int64, error) { return status("VmRSS") }

// PeakRSS is the peak resident set size in bytes since the process
// started or since the last ResetPeakRSS (VmHWM).
func PeakRSS() (int64, error) { return status("VmHWM") }

// ResetPeakRSS resets the peak resident set size to the current one
// (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs).
func ResetPeakRSS() error {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return ErrUnsupported
	}
	_, err = f.WriteString("5")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
