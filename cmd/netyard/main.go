// Command netyard is a userspace traffic-control datapath with tc's
// semantics. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

const usage = `usage: netyard COMMAND [ARGS]

commands:
  lab      run built-in scenarios in virtual time (no root)
  replay   run a tc batch file over pcap captures
  daemon   run the datapath and serve the control socket
  tc       tc's grammar against a running daemon (-s, -j, -b)
  gen      send test traffic on an interface, or count what one receives
  bpf      a running daemon's eBPF programs and maps (bpftool's words: prog show, map dump, ...)
  capture  an 802.11 device's frames from a running daemon, as a radiotap pcap (kept at the hook, or all: monitor)

"netyard COMMAND -h" describes a command.
`

// errUsage marks errors that are the caller's: exit status 2.
var errUsage = errors.New("usage")

// exitStatus is a failure already reported to the user that exits with
// this status (`netyard tc` gives tc's: 255, 2 or 1).
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "lab":
		err = cmdLab(args[1:], stdout, stderr)
	case "replay":
		err = cmdReplay(args[1:], stdout, stderr)
	case "daemon":
		err = cmdDaemon(args[1:], stdout, stderr)
	case "tc":
		err = cmdTC(args[1:], os.Stdin, stdout, stderr)
	case "gen":
		err = cmdGen(args[1:], stdout, stderr)
	case "bpf":
		err = cmdBPF(args[1:], stdout, stderr)
	case "capture":
		err = cmdCapture(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "netyard: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var st exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &st):
		return int(st)
	case errors.Is(err, errReported):
		return 1
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "netyard %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "netyard %s: %v\n", args[0], err)
		return 1
	}
}
