//go:build !linux

package main

import "io"

// isTerminal reports false: progress is shown on Linux terminals only.
func isTerminal(io.Writer) bool { return false }
