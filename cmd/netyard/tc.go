package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"netyard/ctl"
	"netyard/tcsyntax"
)

// cmdTC is `netyard tc ...`: iproute2's tc grammar, run by the daemon. The
// words go to the daemon as they are; a batch file (-b FILE) is read here
// and sent as "-b -", so the daemon never opens a client's path. What the
// daemon prints comes back on stdout and stderr as tc would print it.
func cmdTC(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := tcFlags{socket: ctl.SocketPath(), progress: isTerminal(stderr)}
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, tcUsage)
	}
	if tcsyntax.IsHelp(args) {
		// Help needs no daemon.
		fmt.Fprintf(stdout, "usage: %s\n\n", tcUsage)
		return tcsyntax.Run(nil, []string{"-help"}, stdout, stderr)
	}
	c, err := ctl.Dial(f.socket, ctl.WithDumpRetries(f.retries))
	if err != nil {
		return dialError(f.socket, err)
	}
	defer c.Close()
	// A listing of actions travels as a dump (millions of actions, in
	// large messages, resumed by key, with generations); everything else
	// as words that the daemon runs. A line the parser refuses goes to
	// the daemon too, which reports it as tc would.
	if opts, batch, cmd, perr := tcsyntax.ParseLine(args); perr == nil && batch == "" &&
		cmd.Object == tcsyntax.ObjAction && cmd.Verb == tcsyntax.VerbShow {
		for range max(f.repeat, 1) {
			if err := dumpActions(context.Background(), c, opts, cmd, &f, stdout, stderr); err != nil {
				return err
			}
		}
		return nil
	}
	if name, force := tcsyntax.BatchArgs(args); name != "" {
		return tcBatch(c, args, name, force, stdin, stdout, stderr)
	}
	if opts, batch, cmd, perr := tcsyntax.ParseLine(args); perr == nil && batch == "" && filterDumpable(cmd) {
		for range max(f.repeat, 1) {
			if err := dumpFilters(context.Background(), c, opts, cmd, &f, stdout, stderr); err != nil {
				return err
			}
		}
		return nil
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
	var errb bytes.Buffer
	err = c.Exec(context.Background(), req, stdout, io.MultiWriter(stderr, &errb))
	if err != nil && errb.Len() > 0 {
		// The daemon already said what went wrong, as tc does, and
		// which exit status tc gives for it.
		var ce *ctl.Error
		if errors.As(err, &ce) && ce.Status > 0 && ce.Status < 256 {
			return exitStatus(ce.Status)
		}
		return errReported
	}
	return err
}

const tcUsage = "netyard tc [--socket PATH] [--retry N] [--msg-size BYTES] [--time] [--repeat N] [ OPTIONS ] OBJECT COMMAND ... (tc's grammar; see docs/TC.md)"

// dialError says why the daemon could not be reached, and what to do.
func dialError(socket string, err error) error {
	if len(socket) > ctl.MaxSocketPath {
		return fmt.Errorf("%s: %d bytes, over the kernel's limit of %d for a unix socket path", socket, len(socket), ctl.MaxSocketPath)
	}
	if errors.Is(err, fs.ErrPermission) {
		mode := "0600"
		if fi, serr := os.Stat(socket); serr == nil {
			mode = fmt.Sprintf("%04o", fi.Mode().Perm())
		}
		return fmt.Errorf("%s: permission denied: the socket is mode %s (see --group)", socket, mode)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: %w (is netyard daemon running? --socket or $%s)", socket, err, ctl.SocketEnv)
	}
	return fmt.Errorf("%s: %w", socket, err)
}

// tcFlags are netyard tc's own flags, before tc's options.
type tcFlags struct {
	socket string
	// retries is how often an inconsistent dump (NLM_F_DUMP_INTR) is
	// run again; 0 reports it.
	retries int
	msgSize int
	// progress shows a dump's progress on stderr (a terminal).
	progress bool
	// timing reports a dump's time on stderr, from the request to the
	// last line written: what bench/dump.sh compares.
	timing bool
	// repeat runs a listing that many times on one connection (with
	// timing: the cost of a dump in a warm client, without a process's
	// start-up).
	repeat int
}

func (f *tcFlags) parse(args []string) ([]string, error) {
	for len(args) > 0 {
		name, val, hasVal := strings.Cut(args[0], "=")
		switch name {
		case "--socket", "--retry", "--msg-size", "--repeat":
		case "--time":
			f.timing = true
			args = args[1:]
			continue
		default:
			return args, nil
		}
		args = args[1:]
		if !hasVal {
			if len(args) == 0 {
				return nil, fmt.Errorf("%w: %s needs a value", errUsage, name)
			}
			val, args = args[0], args[1:]
		}
		switch name {
		case "--socket":
			f.socket = val
		case "--retry":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 100 {
				return nil, fmt.Errorf("%w: --retry %q: a count from 0 to 100", errUsage, val)
			}
			f.retries = n
		case "--repeat":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1000 {
				return nil, fmt.Errorf("%w: --repeat %q: a count from 1 to 1000", errUsage, val)
			}
			f.repeat = n
		case "--msg-size":
			n, err := strconv.Atoi(val)
			if err != nil || n < ctl.MinMessageSize || n > ctl.MaxMessageSize {
				return nil, fmt.Errorf("%w: --msg-size %q: bytes from %d to %d", errUsage, val, ctl.MinMessageSize, ctl.MaxMessageSize)
			}
			f.msgSize = n
		}
	}
	return args, nil
}

// errReported is an error whose message has already reached the user.
var errReported = errors.New("reported")

// tcBatch streams a batch file (or stdin for "-") to the daemon in chunks
// of whole lines (ctl.ExecBatch): any size, no request limit to hit. The
// daemon reports each failed command on stderr with its line in the whole
// file; without -force the batch stops at the first, and this says how
// many commands were applied before it, as "Command failed FILE:LINE".
func tcBatch(c *ctl.Client, args []string, name string, force bool, stdin io.Reader, stdout, stderr io.Writer) error {
	in := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	words := append([]string(nil), args...)
	for i := 0; i+1 < len(words); i++ {
		if w := words[i]; strings.HasPrefix(w, "-b") && strings.HasPrefix("-batch", w) {
			words[i+1] = "-"
			break
		}
	}
	chunks := func(yield func(ctl.Chunk, error) bool) {
		for ch, err := range tcsyntax.BatchChunks(in, ctl.MaxBatchChunk) {
			if !yield(ctl.Chunk{FirstLine: ch.FirstLine, Data: ch.Data}, err) || err != nil {
				return
			}
		}
	}
	res, err := c.ExecBatch(context.Background(), words, force, chunks, stdout, stderr)
	if err != nil {
		if errors.Is(err, tcsyntax.ErrLineTooLong) {
			return fmt.Errorf("%s: %w (%d commands applied before it)", name, err, res.Applied)
		}
		return fmt.Errorf("%s: %w (%d commands applied)", name, err, res.Applied)
	}
	// do_batch prints "Command failed FILE:LINE" and exits 1; netyard
	// says on a line of its own how much was applied.
	switch {
	case res.StopLine > 0:
		fmt.Fprintf(stderr, "Command failed %s:%d\n", name, res.StopLine)
		fmt.Fprintf(stderr, "(%d commands applied before it; nothing after it)\n", res.Applied)
		return exitStatus(1)
	case res.Failed > 0:
		fmt.Fprintf(stderr, "%d of %d commands failed in %s\n", res.Failed, res.Failed+res.Applied, name)
		return exitStatus(1)
	}
	return nil
}
