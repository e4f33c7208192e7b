package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"netyard/bpf/bpftool"
	"netyard/ctl"
)

// cmdBPF is `netyard bpf ...`: bpftool's words for the eBPF programs and
// maps of a running daemon (package bpftool). The words travel to the
// daemon as an exec request whose first word is "bpf", as tc commands
// travel; what the daemon prints comes back, a ring buffer's records as
// a stream.
func cmdBPF(args []string, stdout, stderr io.Writer) error {
	f := tcFlags{socket: ctl.SocketPath()}
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: netyard bpf [--socket PATH] ...\n%s", errUsage, bpftool.Usage)
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "help" {
			fmt.Fprintln(stdout, bpftool.Usage)
			return nil
		}
	}
	c, err := ctl.Dial(f.socket)
	if err != nil {
		return dialError(f.socket, err)
	}
	defer c.Close()
	var errb bytes.Buffer
	err = c.Exec(context.Background(), ctl.ExecRequest{Words: append([]string{"bpf"}, args...)}, stdout, io.MultiWriter(stderr, &errb))
	if err != nil && errb.Len() > 0 {
		return errReported
	}
	return err
}

// isBPFExec says whether an exec request is `netyard bpf`'s.
func isBPFExec(words []string) bool { return len(words) > 0 && words[0] == "bpf" }

// runBPFExec runs `netyard bpf` words in the daemon; errors are written
// to stderr as bpftool writes them.
func runBPFExec(ctx context.Context, t *bpftool.Tool, words []string, stdout, stderr io.Writer) error {
	err := t.Run(ctx, words[1:], stdout)
	if err != nil {
		msg := err.Error()
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		fmt.Fprint(stderr, msg)
	}
	return err
}
