package tcsyntax

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// BatchChunk is a run of whole commands of a batch file, for a client that
// streams a batch in pieces: Data holds complete lines (a command continued
// with a backslash is never split), FirstLine is the number of its first
// line in the whole file.
type BatchChunk struct {
	FirstLine int
	Data      []byte
}

// ErrLineTooLong is a batch line (with its continuations) longer than a
// chunk may be.
var ErrLineTooLong = errors.New("line too long")

// BatchChunks reads a batch from r and yields chunks of at most max bytes
// each, cut at command boundaries. It reads as it goes, so a batch of any
// size streams in memory of about two chunks. A command longer than max is
// an error naming its line (wrapping ErrLineTooLong); a read error ends
// the sequence with that error. The yielded Data is reused after yield
// returns.
func BatchChunks(r io.Reader, max int) func(yield func(BatchChunk, error) bool) {
	return func(yield func(BatchChunk, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		buf := make([]byte, 0, max)
		line, first := 0, 1 // lines read; first line of buf
		var cmd []byte      // the command being read (continuations)
		// logical is the command as BatchLines joins it: each
		// continuation's backslash-newline cut, each line's comment
		// cut, and the result looked at again.
		var logical []byte
		cmdLine, lineStart := 0, 0
		partial := false // the last read ended inside a line
		// flush moves the finished command into the chunk, yielding the
		// chunk first when the command does not fit.
		flush := func() bool {
			if len(buf)+len(cmd) > max {
				if !yield(BatchChunk{FirstLine: first, Data: buf}, nil) {
					return false
				}
				buf = buf[:0]
				first = cmdLine
			}
			buf = append(buf, cmd...)
			cmd, logical = cmd[:0], logical[:0]
			return true
		}
		for {
			l, err := br.ReadSlice('\n')
			if len(l) > 0 {
				if len(cmd) == 0 {
					cmdLine = line + 1
				}
				if !partial {
					line++
					lineStart = len(cmd)
				}
				partial = err == bufio.ErrBufferFull
				if len(cmd)+len(l) > max {
					yield(BatchChunk{}, fmt.Errorf("line %d: %w: over %d bytes, the largest command a chunk of a batch holds", cmdLine, ErrLineTooLong, max))
					return
				}
				cmd = append(cmd, l...)
				if partial {
					continue
				}
				phys := stripCommentBytes(cmd[lineStart:])
				if lineStart == 0 {
					logical = append(logical[:0], phys...)
				} else {
					logical = append(bytes.TrimSuffix(logical, []byte("\\\n")), phys...)
				}
				if err == nil && bytes.HasSuffix(logical, []byte("\\\n")) {
					continue
				}
				if !flush() {
					return
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				// A continuation at the end of the file goes too:
				// BatchLines reports it in the daemon.
				if len(cmd) > 0 && !flush() {
					return
				}
				if len(buf) > 0 {
					yield(BatchChunk{FirstLine: first, Data: buf}, nil)
				}
				return
			}
			if err != nil {
				yield(BatchChunk{}, err)
				return
			}
		}
	}
}

// stripCommentBytes is stripComment on bytes.
func stripCommentBytes(line []byte) []byte {
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}
