//go:build !linux

package link

import (
	"fmt"
	"runtime"

	"netyard/netdev"
)

// Open reports ErrNotSupported: AF_PACKET and TAP are Linux interfaces.
// A bad spec still gets its own error, so that configuration mistakes read
// the same everywhere.
func Open(d *netdev.Device, s Spec, o Options) (*Port, error) {
	s, err := check(d, s, &o)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s backend on %s", ErrNotSupported, s.Kind, runtime.GOOS)
}

// MTU is not supported off Linux.
func MTU(name string) (int, error) {
	return 0, fmt.Errorf("%w: %s: interface MTU", ErrNotSupported, name)
}
