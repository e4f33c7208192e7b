package bpftool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"netyard/bpf"
	"netyard/bpf/ebpf"
	"netyard/pkt"
)

var pool = pkt.NewPool(pkt.PoolConfig{})

func sampler(t testing.TB) (*ebpf.Loader, *ebpf.Program) {
	t.Helper()
	l := ebpf.NewLoader(1)
	p, err := l.LoadObject("ns1", "../../examples/bpf/sampler.o", "tc")
	if err != nil {
		t.Fatal(err)
	}
	return l, p.(*ebpf.Program)
}

func runOn(t testing.TB, p *ebpf.Program, frame []byte) {
	t.Helper()
	b, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if err := b.SetData(frame); err != nil {
		t.Fatal(err)
	}
	var r uint64
	if _, err := p.Run(b, &bpf.Env{Rand: &r, Ifindex: 3}); err != nil {
		t.Fatal(err)
	}
}

// lockedBuf is a writer the streaming reader and the test share.
type lockedBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	flushes int
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
func (w *lockedBuf) Flush() error { w.mu.Lock(); w.flushes++; w.mu.Unlock(); return nil }
func (w *lockedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRingStream: without a count, a ring buffer read streams records as
// they come (flushing each batch) until its context ends; records left
// after a counted read stay for the next reader; another namespace sees
// none of the maps.
func TestRingStream(t *testing.T) {
	l, p := sampler(t)
	tool := &Tool{Loader: l, NS: "ns1", Poll: time.Millisecond}
	frame := make([]byte, 60)
	for i := range frame {
		frame[i] = byte(i)
	}
	runOn(t, p, frame)
	runOn(t, p, frame)
	runOn(t, p, frame)
	var w lockedBuf
	if err := tool.Run(context.Background(), []string{"ringbuf", "read", "name", "samples", "count", "1"}, &w); err != nil {
		t.Fatal(err)
	}
	if s := w.String(); !strings.HasPrefix(s, "== record 1 (144 bytes) ==\n3c 00 00 00 03 00 00 00 3c 00 00 00 00 00 00 00\n00 01 02 03") {
		t.Fatalf("count 1:\n%s", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuf
	done := make(chan error, 1)
	go func() { done <- tool.Run(ctx, []string{"-j", "map", "event_pipe", "name", "samples"}, &out) }()
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); strings.Count(out.String(), "\n") < n; {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %d records:\n%s", n, out.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(2) // the two left from before
	runOn(t, p, frame)
	waitFor(3) // and one that came while it streamed
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end with its context")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, ln := range lines {
		if !strings.HasPrefix(ln, `{"index":`) || !strings.Contains(ln, `"size":144`) {
			t.Errorf("record %d: %s", i, ln)
		}
	}
	if !strings.Contains(lines[2], `"data":["0x3c","0x00","0x00","0x00","0x03","0x00","0x00","0x00","0x3c","0x00","0x00","0x00","0x03",`) {
		t.Errorf("the streamed record is not the fourth packet's (seq 3): %s", lines[2])
	}
	out.mu.Lock()
	if out.flushes == 0 {
		t.Error("the stream never flushed")
	}
	out.mu.Unlock()
	if err := (&Tool{Loader: l, NS: "other"}).Run(context.Background(), []string{"map", "show", "name", "samples"}, &w); err == nil {
		t.Error("namespace other sees ns1's map")
	}
}

// errWriter fails every write, as a client that went away.
type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("gone") }

// TestRingStreamClientGone: a stream ends when its output fails.
func TestRingStreamClientGone(t *testing.T) {
	l, p := sampler(t)
	runOn(t, p, make([]byte, 60))
	err := (&Tool{Loader: l, NS: "ns1"}).Run(context.Background(), []string{"ringbuf", "read", "name", "samples"}, errWriter{})
	if err == nil || err.Error() != "gone" {
		t.Fatalf("err %v", err)
	}
}

// TestPercpuEntries: a per-CPU map's values print per CPU, as bpftool's.
func TestPercpuEntries(t *testing.T) {
	m, err := ebpf.NewMap(ebpf.MapSpec{Name: "pc", Type: ebpf.MapPercpuArray, KeySize: 4, ValueSize: 4, MaxEntries: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, m.ValueLen())
	binary.LittleEndian.PutUint32(v, 7)
	binary.LittleEndian.PutUint32(v[8:], 9)
	if err := m.Update(make([]byte, 4), v, 0); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printEntry(&b, m, make([]byte, 4), v)
	if want := "key:\n00 00 00 00\nvalue (CPU 00): 07 00 00 00\nvalue (CPU 01): 09 00 00 00\n"; b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	e := Entries(m)
	if len(e) != 1 || len(e[0].Values) != 2 || e[0].Values[1].Value[0] != "0x09" {
		t.Errorf("Entries: %+v", e)
	}
}

// FuzzRun: any words give output or an error, never a panic or a hang.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"map show", "-j map dump name samples", "map lookup name sampler_cfg key 0 0 0 0",
		"map update name sampler_cfg key hex 01 00 00 00 value 1 2 3 4 exist",
		"map delete id 1 key 0 0 0 0", "prog show id 1", "-p prog list name sampler",
		"stats on", "map event_pipe name sampler_cfg", "ringbuf read name samples count 0",
	} {
		f.Add(s)
	}
	l, p := sampler(f)
	f.Fuzz(func(t *testing.T, words string) {
		runOn(t, p, make([]byte, 20))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		var b bytes.Buffer
		_ = (&Tool{Loader: l, NS: "ns1", Poll: time.Millisecond}).Run(ctx, strings.Fields(words), &b)
	})
}

// TestProgShowJited: `prog show` says whether the program runs as machine
// code and its size, as bpftool does ("jited NB" or "not jited").
func TestProgShowJited(t *testing.T) {
	l, p := sampler(t)
	var b bytes.Buffer
	if err := (&Tool{Loader: l, NS: "ns1"}).Run(context.Background(), []string{"prog", "show"}, &b); err != nil {
		t.Fatal(err)
	}
	want := "not jited"
	if n := p.JitedLen(); n > 0 {
		want = "jited " + strconv.Itoa(n) + "B"
	}
	if !strings.Contains(b.String(), want) {
		t.Fatalf("prog show:\n%s\nwant %q", b.String(), want)
	}
	var j bytes.Buffer
	if err := (&Tool{Loader: l, NS: "ns1"}).Run(context.Background(), []string{"-j", "prog", "show"}, &j); err != nil {
		t.Fatal(err)
	}
	if jited := p.JitedLen() > 0; strings.Contains(j.String(), `"jited":true`) != jited {
		t.Fatalf("prog show -j: %s (jited %v)", j.String(), jited)
	}
}
