package tcsyntax

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestBatchChunks: chunks hold whole commands (a continued command is
// never split), at most max bytes, numbered by their first line; joined
// they are the input; BatchLines over each chunk, offset by FirstLine,
// gives the commands and lines of the whole file.
func TestBatchChunks(t *testing.T) {
	var in bytes.Buffer
	for i := 1; i <= 500; i++ {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&in, "filter add dev d%d \\\n ingress matchall \\\n action drop\n", i)
		case 3:
			fmt.Fprintf(&in, "# comment %d \\\n", i)
		default:
			fmt.Fprintf(&in, "qdisc add dev d%d clsact%s\n", i, strings.Repeat(" ", i%40))
		}
	}
	type cmd struct {
		line  int
		words string
	}
	var want []cmd
	for c := range BatchLines(in.Bytes()) {
		want = append(want, cmd{c.Line, strings.Join(c.Words, " ")})
	}
	for _, max := range []int{80, 200, 1000, 1 << 20} {
		var joined bytes.Buffer
		var got []cmd
		for ch, err := range BatchChunks(bytes.NewReader(in.Bytes()), max) {
			if err != nil {
				t.Fatalf("max %d: %v", max, err)
			}
			if len(ch.Data) > max {
				t.Fatalf("max %d: chunk of %d bytes", max, len(ch.Data))
			}
			if want := bytes.Count(joined.Bytes(), []byte("\n")) + 1; ch.FirstLine != want {
				t.Fatalf("max %d: chunk starts at line %d, want %d", max, ch.FirstLine, want)
			}
			joined.Write(ch.Data)
			for c := range BatchLines(ch.Data) {
				if c.Err != nil {
					t.Fatalf("max %d: line %d: %v (a command was split)", max, ch.FirstLine+c.Line-1, c.Err)
				}
				got = append(got, cmd{ch.FirstLine + c.Line - 1, strings.Join(c.Words, " ")})
			}
		}
		if !bytes.Equal(joined.Bytes(), in.Bytes()) {
			t.Fatalf("max %d: chunks do not join to the input", max)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("max %d: commands differ from the whole file's", max)
		}
	}
	// A continuation at the end of the file reaches the daemon, which
	// reports it.
	var last []byte
	for ch, err := range BatchChunks(strings.NewReader("a\nb \\\n"), 50) {
		if err != nil {
			t.Fatal(err)
		}
		last = append(last, ch.Data...)
	}
	if string(last) != "a\nb \\\n" {
		t.Fatalf("continuation at the end: chunks %q", last)
	}
	// A command longer than a chunk is named by its first line.
	long := "a\nb \\\n" + strings.Repeat("c", 100) + "\n"
	var err error
	for _, e := range BatchChunks(strings.NewReader(long), 50) {
		if e != nil {
			err = e
		}
	}
	if !errors.Is(err, ErrLineTooLong) || !strings.HasPrefix(err.Error(), "line 2:") {
		t.Fatalf("long command: %v", err)
	}
}

// FuzzBatchChunks: for any input and chunk size, the chunks are at most
// that size and join to the input, and their commands (numbered from each
// chunk's first line) are the whole file's; or a command is too long.
func FuzzBatchChunks(f *testing.F) {
	f.Add([]byte("a b\n# c \\\nd \\\n e\n\"q\" 'r s'\n"), uint8(8))
	f.Add([]byte("x \\\n"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, m uint8) {
		max := int(m)%64 + 1
		var joined bytes.Buffer
		var got, want []string
		for c := range BatchLines(in) {
			want = append(want, fmt.Sprint(c.Line, c.Words, c.Err != nil))
		}
		for ch, err := range BatchChunks(bytes.NewReader(in), max) {
			if err != nil {
				if !errors.Is(err, ErrLineTooLong) {
					t.Fatal(err)
				}
				return
			}
			if len(ch.Data) > max || len(ch.Data) == 0 {
				t.Fatalf("chunk of %d bytes, max %d", len(ch.Data), max)
			}
			joined.Write(ch.Data)
			for c := range BatchLines(ch.Data) {
				got = append(got, fmt.Sprint(ch.FirstLine+c.Line-1, c.Words, c.Err != nil))
			}
		}
		if !bytes.Equal(joined.Bytes(), in) {
			t.Fatalf("chunks %q do not join to %q", joined.Bytes(), in)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("commands %v, want %v", got, want)
		}
	})
}
