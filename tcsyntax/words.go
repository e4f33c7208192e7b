package tcsyntax

import (
	"fmt"
	"netyard/act"
	"strconv"
	"strings"
)

// This file holds the word-level machinery every grammar file shares: the
// keyword abbreviation rule, a cursor over a command's words, the errors
// that name the offending word, and number parsing with the C library
// semantics iproute2 inherits (strtoul with base 0 reads "0x10" as hex and
// "010" as octal).

// matches reports whether word is an abbreviation of keyword, as
// iproute2's matches() (lib/utils.c): "qd" matches "qdisc", "sh" matches
// "show". The order keywords are tried in decides ambiguous prefixes, so
// every grammar here tries them in the order iproute2's if-chains do ("l"
// is "link" for qdiscs, not "list").
//
// Unlike iproute2 an empty word matches nothing: it can only come from ""
// in a batch file, and in iproute2 it silently means the first keyword.
func matches(word, keyword string) bool {
	return word != "" && len(word) <= len(keyword) && keyword[:len(word)] == word
}

// SyntaxError is a command line that tc's grammar does not accept. Word is
// the offending word (or the keyword whose value is wrong) so that callers
// and tests can point at it.
type SyntaxError struct {
	// Context is the grammar the word was read by: "qdisc", "flower",
	// "mirred", ...
	Context string
	Word    string
	Msg     string
}

func (e *SyntaxError) Error() string {
	if e.Word == "" {
		return e.Context + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %q: %s", e.Context, e.Word, e.Msg)
}

func syntaxErr(ctx, word, format string, a ...any) error {
	return &SyntaxError{Context: ctx, Word: word, Msg: fmt.Sprintf(format, a...)}
}

// unknownWord is the error for a word a grammar has no rule for.
func unknownWord(ctx, word, what string, expected []string) error {
	return syntaxErr(ctx, word, "unknown %s; expected one of %s", what, strings.Join(expected, ", "))
}

// badValue is the error for a keyword whose value does not parse.
func badValue(ctx, key, value, want string) error {
	return &SyntaxError{Context: ctx, Word: key, Msg: fmt.Sprintf("%q: %s", value, want)}
}

// duplicate is iproute2's duparg(): a keyword given twice.
func duplicate(ctx, key, value string) error {
	return syntaxErr(ctx, key, "given twice (second value %q)", value)
}

// Args is the rest of a command line, read word by word. Grammar
// functions, including the ones a qdisc kind registers, consume from it.
type Args struct {
	words []string
	pos   int
	// Context prefixes the errors Value returns.
	Context string
	// mayOpen, when set, decides whether a file a command names for the
	// side that runs it to open (bytecode-file, object-file) may be
	// opened (Parser.MayOpen).
	mayOpen func(name string) error

	// Scratch space of the filter grammar, here so that a Parser
	// reusing its Args parses line after line without allocating it.
	fw     filterWords
	flower flowerParser
	cmd    Command
	// devs are the device names commands named last, copied out of
	// their lines (see name).
	devs    [4]string
	devNext uint8
	// reuseFilter: flower filters are parsed into blk (Parser.ReuseFilters).
	reuseFilter bool
	blk         flowerBlock
	// gact, when not nil, is where the next gact action is parsed (the
	// reused block's room for one; parseGact takes it once).
	gact *act.Gact
}

// name returns a device name to keep in a parsed object: a copy of s,
// shared with the previous commands that named the same device. The
// words of a batch are substrings of its chunk, so a filter keeping one
// would keep the whole chunk's text alive: a million filters, their
// whole batch.
func (a *Args) name(s string) string {
	for _, d := range a.devs {
		if d == s {
			return d
		}
	}
	c := strings.Clone(s)
	a.devs[a.devNext%uint8(len(a.devs))] = c
	a.devNext++
	return c
}

// command returns the Args' own Command, zeroed: the one a Parser
// returns for the commands a batch has millions of (filter adds), which
// the caller is done with before it parses the next.
func (a *Args) command() *Command {
	a.cmd = Command{}
	return &a.cmd
}

// NewArgs returns a cursor over words for the grammar named ctx.
func NewArgs(ctx string, words []string) *Args { return &Args{words: words, Context: ctx} }

// More reports whether words are left.
func (a *Args) More() bool { return a.pos < len(a.words) }

// Peek returns the next word without consuming it, or "".
func (a *Args) Peek() string {
	if a.pos < len(a.words) {
		return a.words[a.pos]
	}
	return ""
}

// PeekAt returns the word n places ahead of the next one, or "".
func (a *Args) PeekAt(n int) string {
	if a.pos+n < len(a.words) {
		return a.words[a.pos+n]
	}
	return ""
}

// Next consumes and returns the next word, or "" at the end.
func (a *Args) Next() string {
	w := a.Peek()
	if a.pos < len(a.words) {
		a.pos++
	}
	return w
}

// Value consumes the word after the keyword key, which the caller has just
// consumed; what describes it for the error when it is missing ("a device
// name"), as iproute2's NEXT_ARG() does with "Command line is not
// complete".
func (a *Args) Value(key, what string) (string, error) {
	if !a.More() {
		return "", syntaxErr(a.Context, key, "needs %s", what)
	}
	return a.Next(), nil
}

// Rest returns the unread words.
func (a *Args) Rest() []string { return a.words[a.pos:] }

// parseUint reads s as C's strtoul(s, &end, base) followed by iproute2's
// "*end must be 0" check (get_u32, get_u16, get_unsigned): base 0 takes
// "0x" as hex and a leading "0" as octal, base 16 allows a "0x" prefix.
// Signs and spaces, which strtoul would skip, are refused.
func parseUint(s string, base int, max uint64) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	switch base {
	case 0:
		switch {
		case len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
			s, base = s[2:], 16
		case len(s) > 1 && s[0] == '0':
			s, base = s[1:], 8
		default:
			base = 10
		}
	case 16:
		if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
			s = s[2:]
		}
	}
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := digitVal(s[i])
		if d >= base {
			return 0, false
		}
		if v > (max-uint64(d))/uint64(base) {
			return 0, false
		}
		v = v*uint64(base) + uint64(d)
	}
	return v, true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// getU32 is iproute2's get_u32.
func getU32(s string, base int) (uint32, bool) {
	v, ok := parseUint(s, base, 1<<32-1)
	return uint32(v), ok
}

// getU16 is iproute2's get_u16.
func getU16(s string, base int) (uint16, bool) {
	v, ok := parseUint(s, base, 1<<16-1)
	return uint16(v), ok
}

// getU8 is iproute2's get_u8.
func getU8(s string, base int) (uint8, bool) {
	v, ok := parseUint(s, base, 1<<8-1)
	return uint8(v), ok
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func hex32(v uint32) string { return strconv.FormatUint(uint64(v), 16) }

// wordOr is the word to blame for something missing: the next one, or
// fallback (usually the kind being read) at the end of the line.
func wordOr(a *Args, fallback string) string {
	if w := a.Peek(); w != "" {
		return w
	}
	return fallback
}
