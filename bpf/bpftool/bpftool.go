// Package bpftool is `netyard bpf ...`: bpftool's words and output shapes
// for the eBPF programs and maps of one namespace of a running datapath.
// The daemon runs it on the words a client sends (over the control
// socket, as an exec request), so what it prints reaches the client as a
// tc command's output does; a ring buffer read streams its records,
// flushing after each batch, until a count or until the client goes away.
//
//	[-j|--json] [-p|--pretty] prog show|list [id ID | name NAME]
//	[-j] map show|list [MAP]
//	[-j] map dump MAP
//	[-j] map lookup MAP key [hex] BYTES
//	map update MAP key [hex] BYTES value [hex] BYTES [any|noexist|exist]
//	map delete MAP key [hex] BYTES
//	[-j] map event_pipe MAP [count N]     (also: ringbuf read MAP [count N])
//	stats on|off|show                     (kernel.bpf_stats_enabled)
//
// MAP is "id ID" or "name NAME"; BYTES are bytes as bpftool reads them
// (each one decimal, 0x-hex or 0-octal; all hex after "hex").
package bpftool

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"netyard/bpf/ebpf"
)

// Tool runs bpf commands on a loader's programs and maps of namespace NS.
type Tool struct {
	Loader *ebpf.Loader
	NS     string
	// Poll is how often a ring buffer read looks for new records
	// (0: 10 ms).
	Poll time.Duration
}

// Error is a bpftool-like error: its message is what bpftool prints after
// "Error: ".
type Error struct{ Msg string }

func (e *Error) Error() string { return "Error: " + e.Msg }

func errorf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Usage is the grammar, for help and for usage errors.
const Usage = `Usage: netyard bpf [-j|--json] [-p|--pretty] OBJECT COMMAND
       prog { show | list } [ id ID | name NAME ]
       map { show | list } [ MAP ]
       map dump MAP
       map lookup MAP key [hex] BYTES
       map update MAP key [hex] BYTES value [hex] BYTES [ any | noexist | exist ]
       map delete MAP key [hex] BYTES
       map event_pipe MAP [ count N ]      (ringbuf and perf_event_array maps)
       ringbuf read MAP [ count N ]        (the same)
       stats { on | off | show }           (run_time_ns accounting: kernel.bpf_stats_enabled)
MAP := { id MAP_ID | name MAP_NAME }`

// flusher is what the daemon's output streams offer.
type flusher interface{ Flush() error }

// Run runs one command. Output goes to w; ctx ends a stream.
func (t *Tool) Run(ctx context.Context, args []string, w io.Writer) error {
	if t.Loader == nil {
		return errorf("this datapath has no eBPF loader")
	}
	var o opts
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-j", "--json":
			o.json = true
		case "-p", "--pretty":
			o.json, o.pretty = true, true
		case "-h", "--help", "-help":
			fmt.Fprintln(w, Usage)
			return nil
		default:
			return errorf("unknown option %s\n%s", args[0], Usage)
		}
		args = args[1:]
	}
	if len(args) < 1 {
		return errorf("no object given\n%s", Usage)
	}
	obj, args := args[0], args[1:]
	verb := ""
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	switch {
	case is(obj, "prog") && (verb == "" || is(verb, "show") || is(verb, "list")):
		return t.progShow(w, o, args)
	case is(obj, "map"):
		switch {
		case verb == "" || is(verb, "show") || is(verb, "list"):
			return t.mapShow(w, o, args)
		case is(verb, "dump"):
			return t.mapDump(w, o, args)
		case is(verb, "lookup"):
			return t.mapLookup(w, o, args)
		case is(verb, "update"):
			return t.mapUpdate(w, o, args)
		case is(verb, "delete"):
			return t.mapDelete(w, o, args)
		case verb == "event_pipe":
			return t.readRing(ctx, w, o, args)
		}
	case is(obj, "ringbuf") && verb == "read":
		return t.readRing(ctx, w, o, args)
	case is(obj, "stats"):
		switch verb {
		case "on", "off":
			if len(args) > 0 {
				return errorf("unexpected argument %q", args[0])
			}
			t.Loader.SetStats(verb == "on")
			return nil
		case "", "show":
			on := t.Loader.StatsEnabled()
			if o.json {
				return o.emit(w, map[string]bool{"enabled": on})
			}
			fmt.Fprintf(w, "kernel.bpf_stats_enabled = %d\n", map[bool]int{false: 0, true: 1}[on])
			return nil
		}
	}
	return errorf("unknown command %q\n%s", strings.TrimSpace(obj+" "+verb), Usage)
}

// is says whether word is a prefix of cmd, as bpftool's is_prefix.
func is(word, cmd string) bool { return word != "" && strings.HasPrefix(cmd, word) }

type opts struct{ json, pretty bool }

func (o opts) emit(w io.Writer, v any) error {
	var b []byte
	var err error
	if o.pretty {
		b, err = json.MarshalIndent(v, "", "    ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ProgJSON is `bpf prog show -j`'s object for one program.
type ProgJSON struct {
	ID        uint32   `json:"id"`
	Type      string   `json:"type"`
	Name      string   `json:"name"`
	Tag       string   `json:"tag"`
	GPL       bool     `json:"gpl_compatible"`
	RunTimeNS *uint64  `json:"run_time_ns,omitempty"`
	RunCnt    *uint64  `json:"run_cnt,omitempty"`
	Faults    uint64   `json:"faults"`
	Xlated    int      `json:"bytes_xlated"`
	Jited     bool     `json:"jited"`
	JitedLen  int      `json:"bytes_jited,omitempty"`
	MapIDs    []uint32 `json:"map_ids,omitempty"`
}

func (t *Tool) progJSON(p *ebpf.Program) ProgJSON {
	in := p.Info()
	runs, faults, _ := p.Stats()
	j := ProgJSON{ID: in.ID, Type: "sched_cls", Name: in.Name, Tag: hex.EncodeToString(in.Tag[:]), GPL: true, Faults: faults, Xlated: 8 * in.Insns}
	if n := p.JitedLen(); n > 0 {
		j.Jited, j.JitedLen = true, n
	}
	if t.Loader.StatsEnabled() {
		rt := p.RunTime()
		j.RunTimeNS, j.RunCnt = &rt, &runs
	}
	for _, m := range p.Maps() {
		j.MapIDs = append(j.MapIDs, m.ID())
	}
	return j
}

func (t *Tool) progShow(w io.Writer, o opts, args []string) error {
	progs := t.Loader.ProgramsIn(t.NS)
	if len(args) > 0 {
		if len(args) != 2 {
			return errorf("expected id ID or name NAME, got %q", strings.Join(args, " "))
		}
		var sel []*ebpf.Program
		switch args[0] {
		case "id":
			id, err := strconv.ParseUint(args[1], 0, 32)
			if err != nil {
				return errorf("can't parse %q as ID", args[1])
			}
			for _, p := range progs {
				if p.ID() == uint32(id) {
					sel = append(sel, p)
				}
			}
			if len(sel) == 0 {
				return errorf("get by id (%d): No such file or directory", id)
			}
		case "name":
			for _, p := range progs {
				if p.Info().Name == args[1] {
					sel = append(sel, p)
				}
			}
			if len(sel) == 0 {
				return errorf("can't find program with name %q", args[1])
			}
		default:
			return errorf("expected 'id' or 'name', got: '%s'?", args[0])
		}
		progs = sel
	}
	if o.json {
		out := make([]ProgJSON, 0, len(progs))
		for _, p := range progs {
			out = append(out, t.progJSON(p))
		}
		if len(args) > 0 && len(out) == 1 {
			return o.emit(w, out[0])
		}
		return o.emit(w, out)
	}
	for _, p := range progs {
		j := t.progJSON(p)
		fmt.Fprintf(w, "%d: %s  name %s  tag %s  gpl", j.ID, j.Type, j.Name, j.Tag)
		if j.RunCnt != nil {
			fmt.Fprintf(w, " run_time_ns %d run_cnt %d", *j.RunTimeNS, *j.RunCnt)
		}
		if j.Jited {
			fmt.Fprintf(w, "\n\txlated %dB  jited %dB", j.Xlated, j.JitedLen)
		} else {
			fmt.Fprintf(w, "\n\txlated %dB  not jited", j.Xlated)
		}
		if len(j.MapIDs) > 0 {
			ids := make([]string, len(j.MapIDs))
			for i, id := range j.MapIDs {
				ids[i] = strconv.FormatUint(uint64(id), 10)
			}
			fmt.Fprintf(w, "  map_ids %s", strings.Join(ids, ","))
		}
		fmt.Fprintf(w, "\n\tfaults %d\n", j.Faults)
	}
	return nil
}

// MapJSON is `bpf map show -j`'s object for one map.
type MapJSON struct {
	ID         uint32 `json:"id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Flags      uint32 `json:"flags"`
	KeySize    uint32 `json:"bytes_key"`
	ValueSize  uint32 `json:"bytes_value"`
	MaxEntries uint32 `json:"max_entries"`
	Memlock    int    `json:"bytes_memlock"`
	Pinned     bool   `json:"pinned,omitempty"`
}

func mapJSON(m *ebpf.Map) MapJSON {
	s := m.Spec()
	return MapJSON{ID: m.ID(), Type: s.Type.String(), Name: s.Name, Flags: s.Flags, KeySize: s.KeySize,
		ValueSize: s.ValueSize, MaxEntries: s.MaxEntries, Memlock: m.Memlock(), Pinned: s.Pinned}
}

// findMap takes "id ID" or "name NAME" off args.
func (t *Tool) findMap(args []string) (*ebpf.Map, []string, error) {
	if len(args) < 2 {
		return nil, nil, errorf("expected MAP: id MAP_ID or name MAP_NAME")
	}
	maps := t.Loader.MapsIn(t.NS)
	switch args[0] {
	case "id":
		id, err := strconv.ParseUint(args[1], 0, 32)
		if err != nil {
			return nil, nil, errorf("can't parse %q as ID", args[1])
		}
		for _, m := range maps {
			if m.ID() == uint32(id) {
				return m, args[2:], nil
			}
		}
		return nil, nil, errorf("get map by id (%d): No such file or directory", id)
	case "name":
		var found *ebpf.Map
		for _, m := range maps {
			if m.Spec().Name == args[1] {
				if found != nil {
					return nil, nil, errorf("several maps match name %s: give id %d or id %d", args[1], found.ID(), m.ID())
				}
				found = m
			}
		}
		if found == nil {
			return nil, nil, errorf("no map with name %s", args[1])
		}
		return found, args[2:], nil
	}
	return nil, nil, errorf("expected 'id' or 'name', got: '%s'?", args[0])
}

func (t *Tool) mapShow(w io.Writer, o opts, args []string) error {
	maps := t.Loader.MapsIn(t.NS)
	if len(args) > 0 {
		m, rest, err := t.findMap(args)
		if err != nil {
			return err
		}
		if err := noMore(rest); err != nil {
			return err
		}
		if o.json {
			return o.emit(w, mapJSON(m))
		}
		maps = []*ebpf.Map{m}
	}
	if o.json {
		out := make([]MapJSON, 0, len(maps))
		for _, m := range maps {
			out = append(out, mapJSON(m))
		}
		return o.emit(w, out)
	}
	for _, m := range maps {
		j := mapJSON(m)
		fmt.Fprintf(w, "%d: %s  name %s  flags %#x\n\tkey %dB  value %dB  max_entries %d  memlock %dB", j.ID, j.Type, j.Name, j.Flags, j.KeySize, j.ValueSize, j.MaxEntries, j.Memlock)
		if j.Pinned {
			fmt.Fprintf(w, "\n\tpinned %s", j.Name)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// parseBytes reads n bytes as bpftool's parse_bytes: each word a number
// (base 0, or 16 after "hex") below 256. It returns the words left.
func parseBytes(args []string, what string, n int) ([]byte, []string, error) {
	base := 0
	if len(args) > 0 && args[0] == "hex" {
		base, args = 16, args[1:]
	}
	var out []byte
	for len(args) > 0 && len(out) < n {
		v, err := strconv.ParseUint(args[0], base, 8)
		if err != nil {
			return nil, nil, errorf("error parsing byte: %s", args[0])
		}
		out = append(out, byte(v))
		args = args[1:]
	}
	if len(out) != n {
		return nil, nil, errorf("%s expected %d bytes got %d", what, n, len(out))
	}
	return out, args, nil
}

// keyOf reads "key [hex] BYTES" for m.
func keyOf(m *ebpf.Map, args []string) ([]byte, []string, error) {
	if len(args) == 0 || args[0] != "key" {
		return nil, nil, errorf("did not find key")
	}
	return parseBytes(args[1:], "key", int(m.Spec().KeySize))
}

func hexWords(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

func hexJSON(b []byte) []string {
	out := make([]string, len(b))
	for i, c := range b {
		out[i] = fmt.Sprintf("0x%02x", c)
	}
	return out
}

// EntryJSON is one element as `bpf map dump -j` prints it (no BTF):
// bytes as "0x.." strings; per-CPU maps give "values", one per CPU.
type EntryJSON struct {
	Key    []string       `json:"key"`
	Value  []string       `json:"value,omitempty"`
	Values []CPUValueJSON `json:"values,omitempty"`
}

// CPUValueJSON is one CPU's value of a per-CPU map's element.
type CPUValueJSON struct {
	CPU   int      `json:"cpu"`
	Value []string `json:"value"`
}

func percpu(m *ebpf.Map) bool {
	switch m.Spec().Type {
	case ebpf.MapPercpuArray, ebpf.MapPercpuHash, ebpf.MapLRUPercpuHash:
		return true
	}
	return false
}

func entryJSON(m *ebpf.Map, k, v []byte) EntryJSON {
	e := EntryJSON{Key: hexJSON(k)}
	if !percpu(m) {
		e.Value = hexJSON(v)
		return e
	}
	vs := int(m.Spec().ValueSize)
	st := len(v) / m.NCPU()
	for c := 0; c < m.NCPU(); c++ {
		e.Values = append(e.Values, CPUValueJSON{CPU: c, Value: hexJSON(v[c*st : c*st+vs])})
	}
	return e
}

// printEntry is bpftool's print_entry_plain.
func printEntry(w io.Writer, m *ebpf.Map, k, v []byte) {
	s := m.Spec()
	if percpu(m) {
		fmt.Fprintf(w, "key:\n%s\n", hexWords(k))
		vs := int(s.ValueSize)
		st := len(v) / m.NCPU()
		for c := 0; c < m.NCPU(); c++ {
			fmt.Fprintf(w, "value (CPU %02d): %s\n", c, hexWords(v[c*st:c*st+vs]))
		}
		return
	}
	breakNames := s.KeySize > 16 || s.ValueSize > 16
	if s.KeySize+s.ValueSize <= 24 && !breakNames {
		fmt.Fprintf(w, "key: %s  value: %s\n", hexWords(k), hexWords(v))
		return
	}
	fmt.Fprintf(w, "key:\n%s\nvalue:\n%s\n", hexWords(k), hexWords(v))
}

// Entries returns m's elements in dump order, as `map dump -j` prints
// them (replay's statistics file carries them too).
func Entries(m *ebpf.Map) []EntryJSON {
	out := []EntryJSON{}
	m.Iterate(func(k, v []byte) bool {
		out = append(out, entryJSON(m, k, v))
		return true
	})
	return out
}

func (t *Tool) mapDump(w io.Writer, o opts, args []string) error {
	m, rest, err := t.findMap(args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	switch m.Spec().Type {
	case ebpf.MapRingbuf, ebpf.MapPerfEvent:
		return errorf("map %s is a %s: read its records with map event_pipe (or ringbuf read)", m.Spec().Name, m.Spec().Type)
	}
	if o.json {
		return o.emit(w, Entries(m))
	}
	n := 0
	m.Iterate(func(k, v []byte) bool {
		printEntry(w, m, k, v)
		n++
		return true
	})
	fmt.Fprintf(w, "Found %d element", n)
	if n != 1 {
		fmt.Fprint(w, "s")
	}
	fmt.Fprintln(w)
	return nil
}

func mapErr(op string, err error) error {
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return errorf("%s failed: No such file or directory", op)
	case errors.Is(err, ebpf.ErrKeyExist):
		return errorf("%s failed: File exists", op)
	case errors.Is(err, ebpf.ErrMapFull):
		return errorf("%s failed: Argument list too long (the map is full)", op)
	}
	return errorf("%s failed: %v", op, err)
}

// mapKey reads "MAP key [hex] BYTES" and returns the words after them.
func (t *Tool) mapKey(args []string) (*ebpf.Map, []byte, []string, error) {
	m, rest, err := t.findMap(args)
	if err != nil {
		return nil, nil, nil, err
	}
	k, rest, err := keyOf(m, rest)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, k, rest, nil
}

// noMore is the error for words left over, nil when none are.
func noMore(rest []string) error {
	if len(rest) > 0 {
		return errorf("unexpected argument %q", rest[0])
	}
	return nil
}

func (t *Tool) mapLookup(w io.Writer, o opts, args []string) error {
	m, k, rest, err := t.mapKey(args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	v, err := m.Lookup(k)
	if err != nil {
		return mapErr("lookup", err)
	}
	if o.json {
		return o.emit(w, entryJSON(m, k, v))
	}
	printEntry(w, m, k, v)
	return nil
}

func (t *Tool) mapUpdate(w io.Writer, o opts, args []string) error {
	m, k, rest, err := t.mapKey(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] != "value" {
		return errorf("did not find value")
	}
	v, rest, err := parseBytes(rest[1:], "value", m.ValueLen())
	if err != nil {
		return err
	}
	flags := uint64(ebpf.UpdateAny)
	if len(rest) > 0 {
		switch rest[0] {
		case "any":
		case "noexist":
			flags = ebpf.UpdateNoExist
		case "exist":
			flags = ebpf.UpdateExist
		default:
			return errorf("unsupported flag %s: any, noexist or exist", rest[0])
		}
		rest = rest[1:]
	}
	if err := noMore(rest); err != nil {
		return err
	}
	if err := m.Update(k, v, flags); err != nil {
		return mapErr("update", err)
	}
	return nil
}

func (t *Tool) mapDelete(w io.Writer, o opts, args []string) error {
	m, k, rest, err := t.mapKey(args)
	if err != nil {
		return err
	}
	if err := noMore(rest); err != nil {
		return err
	}
	if err := m.Delete(k); err != nil {
		return mapErr("delete", err)
	}
	return nil
}

// RecordJSON is one ring buffer record as `map event_pipe -j` prints it.
type RecordJSON struct {
	Index uint64   `json:"index"`
	Size  int      `json:"size"`
	Data  []string `json:"data"`
}

// readRing streams a ringbuf's (or perf_event_array's) records: "count
// N" stops after N, otherwise it runs until ctx ends or a write fails
// (the client went away).
func (t *Tool) readRing(ctx context.Context, w io.Writer, o opts, args []string) error {
	m, rest, err := t.findMap(args)
	if err != nil {
		return err
	}
	limit := uint64(0)
	if len(rest) > 0 {
		if rest[0] != "count" || len(rest) != 2 {
			return errorf("unexpected argument %q (count N?)", rest[0])
		}
		n, err := strconv.ParseUint(rest[1], 10, 32)
		if err != nil || n == 0 {
			return errorf("count %q: a number above 0", rest[1])
		}
		limit = n
	}
	if typ := m.Spec().Type; typ != ebpf.MapRingbuf && typ != ebpf.MapPerfEvent {
		return errorf("map %s is a %s, not a ringbuf or perf_event_array", m.Spec().Name, typ)
	}
	poll := t.Poll
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var idx uint64
	var werr error
	for {
		max := 0
		if limit > 0 {
			max = int(limit - idx)
		}
		m.ReadRecordsN(max, func(rec []byte) {
			if werr != nil {
				return // consumed, not shown: the client is gone
			}
			idx++
			if o.json {
				werr = o.emit(w, RecordJSON{Index: idx, Size: len(rec), Data: hexJSON(rec)})
				return
			}
			_, werr = fmt.Fprintf(w, "== record %d (%d bytes) ==\n%s\n", idx, len(rec), hexLines(rec))
		})
		if werr == nil {
			if f, ok := w.(flusher); ok {
				werr = f.Flush()
			}
		}
		if werr != nil {
			return werr
		}
		if limit > 0 && idx >= limit {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// hexLines is bytes in lines of 16, as bpftool's fprint_hex in event_pipe.
func hexLines(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(hexWords(b[i:min(i+16, len(b))]))
	}
	return sb.String()
}

// MapDumpJSON is a map as replay's statistics file carries it: `map show
// -j`'s object with the elements of `map dump -j` (none for ring buffers:
// their records are a stream, counted in "lost" when the ring was full).
type MapDumpJSON struct {
	MapJSON
	Entries []EntryJSON `json:"entries,omitempty"`
	Lost    uint64      `json:"lost,omitempty"`
}

// StatsJSON is namespace ns's programs and maps, for a statistics file.
func StatsJSON(l *ebpf.Loader, ns string) map[string]any {
	t := &Tool{Loader: l, NS: ns}
	progs := []ProgJSON{}
	for _, p := range l.ProgramsIn(ns) {
		j := t.progJSON(p)
		if j.RunCnt == nil { // runs are counted anyway; the time is not
			runs, _, _ := p.Stats()
			j.RunCnt = &runs
		}
		progs = append(progs, j)
	}
	maps := []MapDumpJSON{}
	for _, m := range l.MapsIn(ns) {
		d := MapDumpJSON{MapJSON: mapJSON(m)}
		switch m.Spec().Type {
		case ebpf.MapRingbuf, ebpf.MapPerfEvent:
			d.Lost = m.Lost()
		default:
			d.Entries = Entries(m)
		}
		maps = append(maps, d)
	}
	return map[string]any{"progs": progs, "maps": maps}
}
