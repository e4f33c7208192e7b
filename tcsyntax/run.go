package tcsyntax

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"
)

// The tc command line (tc/tc.c main and batch, lib/utils.c do_batch,
// getcmdline and makeargs): global options, then one command or a batch.

// CLI runs tc command lines against a Target.
type CLI struct {
	Target Target
	// Stdout takes what show and get print; Stderr one "Error: ..."
	// line for each failed command.
	Stdout, Stderr io.Writer
	// Stdin is read by "-b -"; nil means os.Stdin.
	Stdin io.Reader
	// StdinText, when not nil, is what "-b -" runs instead of reading
	// Stdin: the daemon's batch chunk, run where it lies. The commands
	// parsed from it may keep strings that share its memory, so the
	// caller must never change it.
	StdinText []byte
	// Now is the time the statistics' ages are printed against; nil
	// means the Target's Clock, else the wall clock.
	Now func() int64
	// ReadFile reads a batch file; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// MayOpen decides whether a file a command names for this side to
	// open (a bpf program's bytecode-file or object-file) may be opened;
	// nil allows all (Parser.MayOpen).
	MayOpen func(name string) error
	// Pace, when set, runs before every command (each line of a batch):
	// the daemon makes a tenant's commands wait for their turn there, so
	// that a batch is paced line by line rather than run in one burst.
	Pace func() error
	// LineBase is the line number of a batch's first line (0 means 1):
	// a client that streams a batch in chunks sends each chunk with the
	// number of its first line, so that errors name the line of the
	// whole file.
	LineBase int
	// Batch is how the last batch run went.
	Batch BatchResult
	// Resolve, when set, gives the Target of the namespace a command
	// addresses: -n NAME, or "" for none (the default namespace, or
	// what the caller makes of it). It is asked once per command (a
	// batch's lines that address the same namespace share an answer
	// until a netns command runs) and may refuse, e.g. a tenant that
	// addresses another's namespace. Without it Target serves every
	// command and -n is an error.
	Resolve func(netns string) (Target, error)

	resolved   bool
	lastNetns  string
	lastTarget Target

	out    bytes.Buffer // runOne's, reused
	parser Parser       // runOne's, reused
	// failed is the command whose Exec failed in the last runOne, nil
	// when it failed to parse (or did not fail).
	failed *Command
}

// BatchResult is the outcome of running a batch (or one chunk of one).
type BatchResult struct {
	// Applied and Failed count the commands that ran without error and
	// those that failed (comment-only and empty lines are not counted).
	Applied, Failed int
	// StopLine is the line of the command that stopped the batch (a
	// failure without -force), 0 when it ran to its end.
	StopLine int
}

// BatchArgs reports the batch file and -force of a tc command line's
// global options ("" when it is not a well-formed batch: Run reports
// what is wrong, e.g. a command after "-b FILE").
func BatchArgs(args []string) (batch string, force bool) {
	_, batch, force, rest, err := parseGlobalOptions(args)
	if err != nil || len(rest) > 0 {
		return "", false
	}
	return batch, force
}

// Run is the tc command without its program name: global options (-s, -d,
// -j, -p, -iec, -force, -b FILE), then one command, or a batch from FILE
// ("-b -" reads stdin). It prints what tc prints to stdout, reports each
// failed command on stderr, and returns an error when any command failed
// (the first one's, wrapped; the caller need not print it again).
func Run(t Target, args []string, stdout, stderr io.Writer) error {
	return (&CLI{Target: t, Stdout: stdout, Stderr: stderr}).Run(args)
}

// usage is tc's usage text, limited to what netyard accepts.
const usage = `Usage:	tc [ OPTIONS ] OBJECT { COMMAND | help }
	tc [-force] -batch filename
where  OBJECT := { qdisc | class | filter | actions | dev | link | loops | netns | tenant }
       OPTIONS := { -s[tatistics] | -d[etails] | -j[son] | -p[retty] |
                    -iec | -b[atch] [filename] | -force | -n[etns] name }
See docs/TC.md for the grammar.
`

// Run runs one tc invocation; see the package function Run.
func (c *CLI) Run(args []string) error {
	opts, batch, force, rest, err := parseGlobalOptions(args)
	if err != nil && !errors.Is(err, errHelp) {
		c.report(err)
		return withStatus(StatusSyntax, err)
	}
	if err != nil || batch == "" && len(rest) == 0 {
		_, err := io.WriteString(c.Stdout, usage)
		return err
	}
	opts.Now = c.now()
	if batch != "" {
		if len(rest) > 0 {
			err := syntaxErr("tc", rest[0], "a batch takes no command on the command line")
			c.report(err)
			return err
		}
		// do_batch: any failed command makes tc exit 1.
		return withStatus(StatusFailed, c.runBatch(batch, opts, force))
	}
	err = c.runOne(rest, opts)
	if err != nil {
		c.reportCmd(err, "")
	}
	return err
}

var errHelp = errors.New("help")

// IsHelp reports whether args ask only for the usage (-h[elp] among the
// global options, or no command at all), which Run prints without
// touching its Target: `netyard tc -h` needs no daemon.
func IsHelp(args []string) bool {
	_, batch, _, rest, err := parseGlobalOptions(args)
	return errors.Is(err, errHelp) || err == nil && batch == "" && len(rest) == 0
}

func (c *CLI) now() int64 {
	if c.Now != nil {
		return c.Now()
	}
	if clk, ok := c.Target.(Clock); ok {
		return clk.Now()
	}
	return time.Now().UnixNano()
}

func (c *CLI) report(err error) {
	if c.Stderr != nil {
		fmt.Fprintf(c.Stderr, "Error: %v\n", err)
	}
}

// reportCmd reports a failure of runOne: a parse error as report does, a
// refusal as tc prints the kernel's (reportExec). prefix ("line N: ")
// goes before netyard's own wording; a kernel's message goes as tc
// prints it, the line being in "Command failed FILE:N".
func (c *CLI) reportCmd(err error, prefix string) {
	if c.Stderr == nil {
		return
	}
	if c.failed == nil {
		fmt.Fprintf(c.Stderr, "Error: %s%v\n", prefix, err)
		return
	}
	reportExec(c.Stderr, c.failed, err, prefix)
}

func (c *CLI) runOne(words []string, opts Options) error {
	if c.Pace != nil {
		if err := c.Pace(); err != nil {
			return err
		}
	}
	c.failed = nil
	// A batch line may name its namespace: "-n NAME COMMAND ...".
	if len(words) > 0 && len(words[0]) >= 2 && matches(words[0], "-netns") {
		if len(words) < 2 {
			return withStatus(StatusSyntax, syntaxErr("tc", words[0], "needs a namespace name"))
		}
		if err := ValidNetnsName(words[1]); err != nil {
			return withStatus(StatusSyntax, syntaxErr("tc", words[1], "%v", err))
		}
		opts.Netns, words = words[1], words[2:]
	}
	// The namespace is chosen before the line is parsed, as tc switches
	// namespace while it reads its options; and the parser may reuse one
	// flower block for every line only when the target copies what it
	// keeps.
	t, err := c.target(opts.Netns)
	if err != nil {
		return withStatus(StatusSyntax, err) // tc exits 255 when netns_switch fails
	}
	_, copies := t.(FilterCopier)
	c.parser.ReuseFilters(copies)
	c.parser.MayOpen(c.MayOpen)
	cmd, err := c.parser.Parse(words)
	if err != nil {
		return withStatus(parseStatus(err), err)
	}
	if cmd.Object == ObjNetns && cmd.Verb != VerbShow {
		// A namespace may come or go: ask again next time.
		c.resolved = false
	}
	// A show or get streams: its only failures (no such device or
	// object) come before anything is printed, and a listing of millions
	// of objects must not be held whole. Other commands print nothing
	// but warnings.
	// The buffer is the CLI's, reused line after line: a batch of a
	// million adds must not allocate one per line.
	out := &c.out
	out.Reset()
	var dst io.Writer = out
	if cmd.Verb == VerbShow || cmd.Verb == VerbGet {
		dst = c.Stdout
	}
	if err := Exec(t, cmd, opts, dst); err != nil {
		var w *Warning
		if !errors.As(err, &w) {
			c.failed = cmd
			return withStatus(execStatus(cmd, err), err)
		}
		if c.Stderr != nil {
			fmt.Fprintf(c.Stderr, "Warning: %s\n", w.Msg)
		}
	}
	if out.Len() == 0 {
		return nil
	}
	_, err = c.Stdout.Write(out.Bytes())
	return err
}

// target is the Target of the namespace netns ("" for none).
func (c *CLI) target(netns string) (Target, error) {
	if c.Resolve == nil {
		if netns != "" {
			return nil, syntaxErr("tc", "-netns", "this target has one namespace")
		}
		return c.Target, nil
	}
	if c.resolved && netns == c.lastNetns {
		return c.lastTarget, nil
	}
	t, err := c.Resolve(netns)
	if err != nil {
		c.resolved = false
		return nil, err
	}
	c.resolved, c.lastNetns, c.lastTarget = true, netns, t
	return t, nil
}

// parseGlobalOptions is tc.c's option loop: options start with "-" and
// match by prefix in tc's order ("-s" is -stats, "-b" -batch, "-n"
// -netns).
func parseGlobalOptions(args []string) (o Options, batch string, force bool, rest []string, err error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		w := args[0]
		args = args[1:]
		switch {
		case matches(w, "-stats"), matches(w, "-statistics"):
			o.Stats++
		case matches(w, "-details"):
			o.Details = true
		case matches(w, "-raw"):
			return o, "", false, nil, syntaxErr("tc", w, "not supported by netyard")
		case matches(w, "-pretty"):
			o.Pretty = true
		case matches(w, "-graph"), matches(w, "-Version"):
			return o, "", false, nil, syntaxErr("tc", w, "not supported by netyard")
		case matches(w, "-iec"):
			o.IEC = true
		case matches(w, "-help"):
			return o, "", false, nil, errHelp
		case matches(w, "-force"):
			force = true
		case matches(w, "-batch"):
			if len(args) == 0 {
				return o, "", false, nil, syntaxErr("tc", w, "needs a file name (\"-\" for stdin)")
			}
			batch, args = args[0], args[1:]
		case matches(w, "-netns"):
			if len(args) == 0 {
				return o, "", false, nil, syntaxErr("tc", w, "needs a namespace name")
			}
			if err := ValidNetnsName(args[0]); err != nil {
				return o, "", false, nil, syntaxErr("tc", args[0], "%v", err)
			}
			o.Netns, args = args[0], args[1:]
		case matches(w, "-Numeric"), matches(w, "-names"), matches(w, "-nm"),
			matches(w, "-cf"), matches(w, "-conf"), matches(w, "-color"), matches(w, "-timestamp"),
			matches(w, "-tshort"):
			return o, "", false, nil, syntaxErr("tc", w, "not supported by netyard")
		case matches(w, "-json"):
			o.JSON = true
		case matches(w, "-brief"):
			o.Brief = true
		case matches(w, "-oneline"), w == "-echo":
			return o, "", false, nil, syntaxErr("tc", w, "not supported by netyard")
		default:
			return o, "", false, nil, syntaxErr("tc", w, "option is unknown, try \"tc -help\"")
		}
	}
	return o, batch, force, args, nil
}

// runBatch runs a batch file: one command a line, as tc -batch. It stops
// at the first failing command unless force; each failure is reported
// with its line number.
func (c *CLI) runBatch(name string, opts Options, force bool) error {
	var data []byte
	var err error
	shared := false // data is the caller's, never changed: no copy to a string
	if name == "-" && c.StdinText != nil {
		data, shared = c.StdinText, true
	} else if name == "-" {
		in := c.Stdin
		if in == nil {
			in = os.Stdin
		}
		if r, ok := in.(*bytes.Reader); ok {
			// The daemon's chunks: one allocation of the right size,
			// not ReadAll's doublings (3% of a bulk load's CPU).
			data = make([]byte, r.Len())
			_, err = io.ReadFull(r, data)
		} else {
			data, err = io.ReadAll(in)
		}
	} else if c.ReadFile != nil {
		data, err = c.ReadFile(name)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		err = fmt.Errorf("cannot read batch %q: %w", name, err)
		c.report(err)
		return err
	}
	var first error
	failed, total := 0, 0
	base := max(c.LineBase, 1) - 1
	c.Batch = BatchResult{}
	defer func() { c.Batch.Failed = failed; c.Batch.Applied = total - failed }()
	text := ""
	if shared {
		text = unsafe.String(unsafe.SliceData(data), len(data))
	} else {
		text = string(data)
	}
	for cmd := range batchLines(text) {
		if cmd.Err == nil && len(cmd.Words) == 0 {
			continue
		}
		total++
		err := cmd.Err
		c.failed = nil
		if err == nil {
			err = c.runOne(cmd.Words, opts)
		}
		if err == nil {
			continue
		}
		c.reportCmd(err, fmt.Sprintf("line %d: ", base+cmd.Line))
		err = fmt.Errorf("line %d: %w", base+cmd.Line, err)
		failed++
		if first == nil {
			first = err
		}
		if !force {
			c.Batch.StopLine = base + cmd.Line
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d commands failed; first: %w", failed, total, first)
	}
	return nil
}

// BatchCommand is one command of a batch file.
type BatchCommand struct {
	// Line is the line the command starts on (1-based).
	Line int
	// Words are its words; none for a line with only a comment. The
	// slice is reused for the next command (the words themselves are
	// substrings of one string that lives on): copy it to keep it.
	Words []string
	// Err is a line that cannot be split into words (an unterminated
	// quote, a continuation at the end of the file).
	Err error
}

// BatchLines splits a batch file into commands as iproute2's getcmdline
// and makeargs do: "#" starts a comment that runs to the end of the line,
// a backslash right before the newline continues the command on the next
// line, words are separated by spaces and tabs, and a word may be quoted
// with ' or " (no escapes inside).
//
// It converts data to a string once and yields words that are substrings
// of it, in one slice reused from command to command: a batch of a
// million filters spent a third of its parse time allocating lines and
// word slices.
func BatchLines(data []byte) func(yield func(BatchCommand) bool) {
	return batchLines(string(data))
}

// batchLines is BatchLines over text.
func batchLines(text string) func(yield func(BatchCommand) bool) {
	return func(yield func(BatchCommand) bool) {
		rest := text
		var buf []string // the words' slice, reused
		// next cuts the next physical line (with its newline) off rest.
		next := func() string {
			i := strings.IndexByte(rest, '\n')
			var l string
			if i < 0 {
				l, rest = rest, ""
			} else {
				l, rest = rest[:i+1], rest[i+1:]
			}
			return l
		}
		for n := 1; rest != ""; n++ {
			start := n
			line := stripComment(next())
			var err error
			// getcmdline looks for "\\\n" after cutting the comment, so a
			// backslash before a comment does not continue the line.
			if strings.HasSuffix(line, "\\\n") {
				joined := line
				for strings.HasSuffix(joined, "\\\n") {
					joined = strings.TrimSuffix(joined, "\\\n")
					if rest == "" {
						err = errors.New("missing continuation line")
						break
					}
					n++
					joined += stripComment(next())
				}
				line = joined
			}
			if err == nil {
				var words []string
				words, err = appendWords(buf[:0], line)
				if cap(words) > cap(buf) {
					buf = words
				}
				if !yield(BatchCommand{Line: start, Words: words, Err: err}) {
					return
				}
				continue
			}
			if !yield(BatchCommand{Line: start, Err: err}) {
				return
			}
		}
	}
}

// stripComment cuts a line at its first '#', keeping the newline so that
// a continuation is recognised only when nothing was cut.
func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// splitWords is makeargs: whitespace-separated words; a word that starts
// with a quote runs to the same quote, and the character after the
// closing quote separates words.
func splitWords(line string) ([]string, error) {
	return appendWords(nil, line)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// appendWords is splitWords appending to words (nil when there are
// none), for a caller that reuses one slice line after line.
func appendWords(words []string, line string) ([]string, error) {
	for i := 0; i < len(line); {
		if isSpace(line[i]) {
			i++
			continue
		}
		if q := line[i]; q == '\'' || q == '"' {
			end := strings.IndexByte(line[i+1:], q)
			if end < 0 {
				return nil, errors.New("unterminated quoted string")
			}
			words = append(words, line[i+1:i+1+end])
			i += end + 3 // the quotes and the separator after them
			continue
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		words = append(words, line[i:j])
		i = j
	}
	if len(words) == 0 {
		return nil, nil
	}
	return words, nil
}

// ParseLine reads a whole tc command line as Run does: the global
// options, then a batch file (-b FILE, returned in batch, with no
// command) or one command. `netyard tc` uses it to pick the way a command
// travels to the daemon: listings of actions as dumps, the rest as words.
func ParseLine(args []string) (opts Options, batch string, cmd *Command, err error) {
	opts, batch, _, rest, err := parseGlobalOptions(args)
	if err != nil || batch != "" {
		return opts, batch, nil, err
	}
	cmd, err = Parse(rest)
	return opts, "", cmd, err
}
