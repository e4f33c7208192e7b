//go:build race

package netdev

const raceOn = true
