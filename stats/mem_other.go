//go:build !linux

package stats

func mapAnon(int) []byte { return nil }

func unmapAnon([]byte) {}
