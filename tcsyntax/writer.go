package tcsyntax

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Writer is one printer for tc's two output forms, as iproute2's
// lib/json_print.c: every print call names its JSON key and its text
// format, and the Writer renders whichever form it was made for. Print
// functions written against it (the qdisc, classifier and action kinds)
// therefore cannot let text and JSON drift apart, and they read like the
// iproute2 functions they mirror.
//
// JSON is written the way iproute2's json_writer.c writes it, including
// its pretty form ("[ {", four-space indents, "} ]"), so that output can
// be compared byte for byte with a real tc.
type Writer struct {
	text []byte
	js   *jsonWriter
	// sink, when set, takes what is written so far at each Drain, so
	// that a listing of a million objects streams instead of growing one
	// buffer (and copying it at every doubling).
	sink    io.Writer
	sinkErr error
	// formats caches simpleVerb's answers by the format string's
	// address: print calls pass constant formats, and a listing of a
	// million actions asks the same dozen a million times.
	formats [256]formatSplit
}

type formatSplit struct {
	data       *byte
	n          int
	verb       string
	pre, post  string
	ok, filled bool
}

// split is simpleVerb through the cache.
func (w *Writer) split(format, verb string) (pre, post string, ok bool) {
	p := unsafe.StringData(format)
	h := (uint64(uintptr(unsafe.Pointer(p))) + uint64(len(format))) * 0x9e3779b97f4a7c15
	c := &w.formats[h>>56]
	if c.filled && c.data == p && c.n == len(format) && unsafe.StringData(c.verb) == unsafe.StringData(verb) {
		return c.pre, c.post, c.ok
	}
	pre, post, ok = simpleVerb(format, verb)
	*c = formatSplit{data: p, n: len(format), verb: verb, pre: pre, post: post, ok: ok, filled: true}
	return pre, post, ok
}

// drainAt is how much a Writer with a sink keeps before Drain sends it.
const drainAt = 64 << 10

// Drain sends what is buffered to the sink once it holds drainAt bytes.
// It keeps the JSON writer's state (depth, separators): only the bytes go.
func (w *Writer) Drain() {
	if w.sink == nil || w.sinkErr != nil {
		return
	}
	b := w.Bytes()
	if len(b) < drainAt {
		return
	}
	if _, err := w.sink.Write(b); err != nil {
		w.sinkErr = err
	}
	if w.js != nil {
		w.js.b = w.js.b[:0]
	} else {
		w.text = w.text[:0]
	}
}

// Out selects which form a print call writes to (iproute2's PRINT_ANY,
// PRINT_FP, PRINT_JSON).
type Out uint8

const (
	PrintAny  Out = iota // both forms
	PrintText            // the text form only (iproute2's PRINT_FP)
	PrintJSON            // the JSON form only
)

func newWriter(json, pretty bool) *Writer {
	w := &Writer{}
	if json {
		w.js = &jsonWriter{pretty: pretty}
	}
	return w
}

// IsJSON reports whether w writes JSON.
func (w *Writer) IsJSON() bool { return w.js != nil }

func (w *Writer) inText(o Out) bool { return w.js == nil && o != PrintJSON }
func (w *Writer) inJSON(o Out) bool { return w.js != nil && o != PrintText }

// Text writes s to the text form only.
func (w *Writer) Text(s string) {
	if w.js == nil {
		w.text = append(w.text, s...)
	}
}

// NL ends a text line (iproute2's print_nl); JSON has no lines.
func (w *Writer) NL() { w.Text("\n") }

// String prints v: in text through format (one %s), in JSON as the
// string value of key (an array element when key is "").
func (w *Writer) String(o Out, key, format, v string) {
	if w.inText(o) {
		if pre, post, ok := w.split(format, "%s"); ok {
			w.text = append(append(append(w.text, pre...), v...), post...)
		} else {
			w.text = fmt.Appendf(w.text, format, v)
		}
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.str(v)
	}
}

// Prefix prints an address prefix as formatPrefix does (the address alone
// when the prefix is the whole address) through format (one %s): in
// text appended in place, not made into a string first (a listing of a
// million flower filters prints a million addresses).
func (w *Writer) Prefix(o Out, key, format string, p netip.Prefix) {
	if w.inText(o) {
		if pre, post, ok := w.split(format, "%s"); ok {
			w.text = append(w.text, pre...)
			if p.Bits() == p.Addr().BitLen() {
				w.text = p.Addr().AppendTo(w.text)
			} else {
				w.text = p.AppendTo(w.text)
			}
			w.text = append(w.text, post...)
		} else {
			w.text = fmt.Appendf(w.text, format, formatPrefix(p))
		}
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.str(formatPrefix(p))
	}
}

// Uint prints v: in text through format (one %d, %x...), in JSON as a
// number.
func (w *Writer) Uint(o Out, key, format string, v uint64) {
	if w.inText(o) {
		if pre, post, ok := w.split(format, "%d"); ok {
			w.text = append(strconv.AppendUint(append(w.text, pre...), v, 10), post...)
		} else if pre, post, ok := w.split(format, "%#x"); ok {
			// A filter's "handle %#x", once per filter of a listing.
			w.text = append(append(w.text, pre...), "0x"...) // as fmt's %#x, 0 too
			w.text = append(strconv.AppendUint(w.text, v, 16), post...)
		} else {
			w.text = fmt.Appendf(w.text, format, v)
		}
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(strconv.FormatUint(v, 10))
	}
}

// simpleVerb splits a format with exactly one verb, verb, and no other %
// into the text around it, so that the common "index %d " lines are
// written without fmt (a dump of a million actions spent most of its time
// in fmt.Appendf: bench/dump.sh). One pass over the format, no
// allocation.
func simpleVerb(format, verb string) (pre, post string, ok bool) {
	i := strings.IndexByte(format, '%')
	if i < 0 || !strings.HasPrefix(format[i:], verb) {
		return "", "", false
	}
	post = format[i+len(verb):]
	if strings.IndexByte(post, '%') >= 0 {
		return "", "", false
	}
	return format[:i], post, true
}

// appendSize appends FormatSize(bytes); below a KiB, where it is the
// number and "b" (the "backlog 0b" of every action's statistics), without
// making a string.
func appendSize(b []byte, bytes uint64) []byte {
	if bytes < 1024 {
		return append(strconv.AppendUint(b, bytes, 10), 'b')
	}
	return append(b, FormatSize(bytes)...)
}

// Int is Uint for signed values.
func (w *Writer) Int(o Out, key, format string, v int64) {
	if w.inText(o) {
		if pre, post, ok := w.split(format, "%d"); ok {
			w.text = append(strconv.AppendInt(append(w.text, pre...), v, 10), post...)
		} else {
			w.text = fmt.Appendf(w.text, format, v)
		}
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(strconv.FormatInt(v, 10))
	}
}

// Hex prints v: in text through format, in JSON as a hex string without
// "0x" (iproute2's print_hex).
func (w *Writer) Hex(o Out, key, format string, v uint64) {
	if w.inText(o) {
		w.text = fmt.Appendf(w.text, format, v)
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.str(strconv.FormatUint(v, 16))
	}
}

// Bool prints a flag: in text the literal text (callers print flags only
// when set, as tc does), in JSON key: v.
func (w *Writer) Bool(o Out, key, text string, v bool) {
	if w.inText(o) {
		w.text = append(w.text, text...)
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(strconv.FormatBool(v))
	}
}

// Null prints the literal text in text form and key: null in JSON
// (iproute2's print_null, for valueless flags like skbedit's
// inheritdsfield).
func (w *Writer) Null(o Out, key, text string) {
	if w.inText(o) {
		w.text = append(w.text, text...)
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw("null")
	}
}

// Size prints a byte count: in text as FormatSize through format, in JSON
// as a number (iproute2's print_size).
func (w *Writer) Size(o Out, key, format string, bytes uint64) {
	if w.inText(o) {
		pre, post, ok := w.split(format, "%s")
		switch {
		case ok:
			w.text = append(appendSize(append(w.text, pre...), bytes), post...)
		default:
			w.text = fmt.Appendf(w.text, format, FormatSize(bytes))
		}
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(strconv.FormatUint(bytes, 10))
	}
}

// Rate prints a rate in bytes per second: in text as FormatRate through
// format, in JSON as a number of bytes per second (tc_print_rate).
func (w *Writer) Rate(o Out, key, format string, bytesPerSec uint64, iec bool) {
	if w.inText(o) {
		w.text = fmt.Appendf(w.text, format, FormatRate(bytesPerSec, iec))
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(strconv.FormatUint(bytesPerSec, 10))
	}
}

// Open starts a JSON object named key ("" inside an array); text is not
// affected (iproute2's open_json_object).
func (w *Writer) Open(key string) {
	if w.js != nil {
		w.js.key(key)
		w.js.begin('{')
	}
}

// Close ends the object Open started.
func (w *Writer) Close() {
	if w.js != nil {
		w.js.end('}')
	}
}

// OpenArray starts a JSON array named key (open_json_array).
func (w *Writer) OpenArray(key string) {
	if w.js != nil {
		w.js.key(key)
		w.js.startArray()
	}
}

// CloseArray ends the array OpenArray started.
func (w *Writer) CloseArray() {
	if w.js != nil {
		w.js.endArray()
	}
}

// Bytes returns what was written.
func (w *Writer) Bytes() []byte {
	if w.js != nil {
		return w.js.b
	}
	return w.text
}

// jsonWriter is iproute2's lib/json_writer.c: the separator and
// indentation rules below reproduce its output exactly, in both its
// compact and its pretty ("tc -p -j") form.
type jsonWriter struct {
	b      []byte
	depth  int
	sep    byte
	pretty bool
}

func (j *jsonWriter) eol() {
	if !j.pretty {
		return
	}
	j.b = append(j.b, '\n')
	for i := 0; i < j.depth; i++ {
		j.b = append(j.b, "    "...)
	}
}

// eor ends the previous value with the pending separator.
func (j *jsonWriter) eor() {
	if j.sep != 0 {
		j.b = append(j.b, j.sep)
	}
	j.sep = ','
}

func (j *jsonWriter) begin(c byte) {
	j.eor()
	j.b = append(j.b, c)
	j.depth++
	j.sep = 0
}

func (j *jsonWriter) end(c byte) {
	if j.depth > 0 {
		j.depth--
	}
	if j.sep != 0 {
		j.eol()
	}
	j.b = append(j.b, c)
	j.sep = ','
}

func (j *jsonWriter) startArray() {
	j.begin('[')
	if j.pretty {
		j.b = append(j.b, ' ')
	}
}

func (j *jsonWriter) endArray() {
	if j.pretty && j.sep != 0 {
		j.b = append(j.b, ' ')
	}
	j.sep = 0
	j.end(']')
}

// key writes "name": (nothing for an array element).
func (j *jsonWriter) key(name string) {
	if name == "" {
		return
	}
	j.eor()
	j.eol()
	j.sep = 0
	j.quote(name)
	j.b = append(j.b, ':')
	if j.pretty {
		j.b = append(j.b, ' ')
	}
}

func (j *jsonWriter) str(s string) {
	j.eor()
	j.quote(s)
}

func (j *jsonWriter) raw(s string) {
	j.eor()
	j.b = append(j.b, s...)
}

// quote writes s as a JSON string. Device names and the like are the only
// free text tc prints; anything that is not valid UTF-8 is replaced so that
// the output stays valid JSON.
func (j *jsonWriter) quote(s string) {
	j.b = append(j.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				j.b = append(j.b, '\\', c)
			case '\n':
				j.b = append(j.b, '\\', 'n')
			case '\r':
				j.b = append(j.b, '\\', 'r')
			case '\t':
				j.b = append(j.b, '\\', 't')
			case '\b':
				j.b = append(j.b, '\\', 'b')
			case '\f':
				j.b = append(j.b, '\\', 'f')
			default:
				if c < 0x20 {
					j.b = fmt.Appendf(j.b, `\u%04x`, c)
				} else {
					j.b = append(j.b, c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			j.b = append(j.b, `\ufffd`...)
		} else {
			j.b = append(j.b, s[i:i+n]...)
		}
		i += n
	}
	j.b = append(j.b, '"')
}

// Float prints v: in text through format with one %g (C's %g, six
// significant digits), in JSON as a number written with %g (iproute2's
// print_float and jsonw_float).
func (w *Writer) Float(o Out, key, format string, v float64) {
	if w.inText(o) {
		// Go's %g is the shortest form, C's six digits: write the
		// number with formatG and the rest as printf would.
		pre, post, _ := strings.Cut(format, "%g")
		w.text = append(append(append(w.text, strings.ReplaceAll(pre, "%%", "%")...), formatG(v)...),
			strings.ReplaceAll(post, "%%", "%")...)
	}
	if w.inJSON(o) {
		w.js.key(key)
		w.js.raw(formatG(v))
	}
}
