package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"netyard/ctl"
)

// cmdTC is `netyard tc ...`: iproute2's tc grammar, run by the daemon. The
// words go to the daemon as they are; a batch file (-b FILE) is read here
// and sent as "-b -", so the daemon never opens a client's path. What the
// daemon prints comes back on stdout and stderr as tc would print it.
func cmdTC(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	socket := ctl.SocketPath()
	if len(args) >= 2 && args[0] == "--socket" {
		socket, args = args[1], args[2:]
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: netyard tc [--socket PATH] [ OPTIONS ] OBJECT COMMAND ... (tc's grammar; see docs/TC.md)", errUsage)
	}
	req := ctl.ExecRequest{Words: append([]string(nil), args...)}
	for i := 0; i+1 < len(req.Words); i++ {
		if w := req.Words[i]; w == "-b" || w == "-batch" {
			var data []byte
			var err error
			if req.Words[i+1] == "-" {
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(req.Words[i+1])
			}
			if err != nil {
				return err
			}
			req.Stdin, req.Words[i+1] = data, "-"
			break
		}
	}
	c, err := ctl.Dial(socket)
	if err != nil {
		return fmt.Errorf("%s: %w (is netyard daemon running? --socket or $%s)", socket, err, ctl.SocketEnv)
	}
	defer c.Close()
	var errb bytes.Buffer
	err = c.Exec(context.Background(), req, stdout, io.MultiWriter(stderr, &errb))
	if err != nil && errb.Len() > 0 {
		// The daemon already said what went wrong, as tc does.
		return errReported
	}
	return err
}

// errReported is an error whose message has already reached the user.
var errReported = errors.New("reported")
