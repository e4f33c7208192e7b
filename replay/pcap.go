package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/datapath"
)

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// source is one --in capture, read one packet ahead so that several
// captures can be merged by timestamp.
type source struct {
	dev   string
	path  string
	f     *os.File
	r     packetReader
	nanos bool
	// Where the reader is in the file: the bytes read from it less
	// those buffered (pcapgo reads through br itself, bufio.NewReader
	// of a large enough *bufio.Reader being that reader), to say where
	// a cut capture ends.
	cr *countReader
	br *bufio.Reader
	gz bool
	// cut is set when the capture ends inside a record.
	cut *Cut

	// The packet read ahead: a copy, because the zero-copy read reuses
	// its buffer on the next call.
	next    []byte
	ts      int64
	origLen int
	done    bool
	n       int // packets read so far
	// lt is the capture's pcap link type: Ethernet, 802.11 or radiotap
	// (datapath.LinkType*).
	lt int
}

// pcapng's section header block starts with 0x0a0d0d0a.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

func openSource(dev, path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cr := &countReader{r: f}
	br := bufio.NewReaderSize(cr, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a capture file: %w", path, err)
	}
	s := &source{dev: dev, path: path, f: f, cr: cr, br: br, gz: magic[0] == 0x1f && magic[1] == 0x8b}
	if string(magic) == string(pcapngMagic) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			f.Close()
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: pcapng: cut short before its first packet (the file is %d bytes)", path, cr.n)
			}
			return nil, fmt.Errorf("%s: pcapng: %w", path, err)
		}
		s.r, s.nanos = r, true
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			f.Close()
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: cut short inside the 24-byte pcap file header (the file is %d bytes)", path, cr.n)
			}
			if strings.Contains(err.Error(), "Unknown magic") {
				return nil, fmt.Errorf("%s: not a capture: neither pcap nor pcapng (it starts with %x)", path, magic)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.r, s.nanos = r, r.Resolution() == gopacket.TimestampResolutionNanosecond
	}
	s.lt = int(s.r.LinkType())
	if _, err := datapath.DeviceLink(s.lt); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.advance(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// advance reads the next packet into s.next, or sets s.done at the end.
// A capture cut inside a record (a killed tcpdump) ends at its last whole
// record, as tcpdump -r reads it, and s.cut says where.
func (s *source) advance() error {
	at := s.cr.n - int64(s.br.Buffered())
	data, ci, err := s.r.ZeroCopyReadPacketData()
	// pcapgo gives io.EOF at a clean end, and also when a record's
	// header is whole but none of its data is there (io.ReadFull
	// read nothing): then the header said how much to expect.
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) && ci.CaptureLength > 0 {
		s.done = true
		s.cut = &Cut{Dev: s.dev, Path: s.path, Records: s.n, Offset: at, Size: s.cr.n, Compressed: s.gz}
		return nil
	}
	if errors.Is(err, io.EOF) {
		s.done = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: packet %d: %w", s.path, s.n+1, err)
	}
	s.n++
	s.next = append(s.next[:0], data...)
	s.ts = ci.Timestamp.UnixNano()
	s.origLen = ci.Length
	return nil
}

func (s *source) close() { s.f.Close() }

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sink is one --out capture.
type sink struct {
	dev  string
	path string
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.Writer
	n    int
	err  error
}

// snaplen of written captures: the largest frame netyard can hold.
const snaplen = 65535

func createSink(dev, path string, nanos bool, lt layers.LinkType) (*sink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	var w *pcapgo.Writer
	if nanos {
		w = pcapgo.NewWriterNanos(bw)
	} else {
		w = pcapgo.NewWriter(bw)
	}
	if err := w.WriteFileHeader(snaplen, lt); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &sink{dev: dev, path: path, f: f, bw: bw, w: w}, nil
}

func (s *sink) write(frame []byte, t int64) { s.writeLen(frame, len(frame), t) }

// writeLen writes a record of frame, which was origLen bytes before a
// snap length cut it.
func (s *sink) writeLen(frame []byte, origLen int, t int64) {
	if s.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, t).UTC(), CaptureLength: len(frame), Length: max(origLen, len(frame))}
	if err := s.w.WritePacket(ci, frame); err != nil {
		s.err = fmt.Errorf("%s: %w", s.path, err)
		return
	}
	s.n++
}

func (s *sink) close() error {
	err := s.err
	if e := s.bw.Flush(); err == nil && e != nil {
		err = fmt.Errorf("%s: %w", s.path, e)
	}
	if e := s.f.Close(); err == nil && e != nil {
		err = fmt.Errorf("%s: %w", s.path, e)
	}
	return err
}
