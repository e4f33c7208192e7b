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
		cmdLine := 0
		partial := false // the last read ended inside a line
		for {
			l, err := br.ReadSlice('\n')
			if len(l) > 0 {
				if len(cmd) == 0 {
					cmdLine = line + 1
				}
				if !partial {
					line++
				}
				partial = err == bufio.ErrBufferFull
				if len(cmd)+len(l) > max {
					yield(BatchChunk{}, fmt.Errorf("line %d: %w: over %d bytes, the largest command a chunk of a batch holds", cmdLine, ErrLineTooLong, max))
					return
				}
				cmd = append(cmd, l...)
				if err == bufio.ErrBufferFull {
					continue
				}
				if continues(cmd) && err == nil {
					continue
				}
				if len(buf)+len(cmd) > max {
					if !yield(BatchChunk{FirstLine: first, Data: buf}, nil) {
						return
					}
					buf = buf[:0]
					first = cmdLine
				}
				buf = append(buf, cmd...)
				cmd = cmd[:0]
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(cmd) > 0 {
					// A continuation at the end of the file:
					// BatchLines reports it in the daemon.
					if len(buf)+len(cmd) > max {
						if !yield(BatchChunk{FirstLine: first, Data: buf}, nil) {
							return
						}
						buf, first = buf[:0], cmdLine
					}
					buf = append(buf, cmd...)
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

// continues reports whether a line (after its comment is cut, as
// BatchLines reads it) ends in a backslash before the newline.
func continues(cmd []byte) bool {
	last := cmd
	if i := bytes.LastIndexByte(cmd[:len(cmd)-1], '\n'); i >= 0 {
		last = cmd[i+1:]
	}
	if i := bytes.IndexByte(last, '#'); i >= 0 {
		return false
	}
	return bytes.HasSuffix(last, []byte("\\\n"))
}
