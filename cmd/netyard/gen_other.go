//go:build !linux

package main

import "errors"

var errGenNotSupported = errors.New("gen: not supported on this system (it sends through Linux AF_PACKET sockets)")

func sendFrames(genConfig, [][]byte) (genResult, error) { return genResult{}, errGenNotSupported }

func countRx(genConfig) (rxResult, error) { return rxResult{}, errGenNotSupported }
