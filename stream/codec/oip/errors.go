package oip

import (
	"errors"
	"fmt"
	"unsafe"
)

var errBadData = errors.New("data is not an array of scalars")

func errKind(what string) error {
	return fmt.Errorf("data holds %s, which its datatype does not allow", what)
}

// bytesToString views b as a string without copying, for parsing only.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
