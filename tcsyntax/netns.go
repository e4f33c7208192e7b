package tcsyntax

import (
	"fmt"
	"io"
	"strconv"
)

// Namespaces and tenants (issue 12): netyard's objects for the daemon's
// tenants, in ip-netns's words where it has them.
//
//	netns add NAME
//	netns del NAME [all]          all: its devices go too
//	netns set NAME [quantum N] [backlog SIZE] [actions N] [filters N] [devices N]
//	               [mem MIN PRESSURE MAX]   packet memory thresholds, as tcp_mem (0 0 0: none)
//	netns show [NAME]             -s: devices, actions, packet memory, loop drops
//	tenant add NAME uid U | gid G the connections of user U (or of members of group G) administer namespace NAME
//	tenant del NAME uid U | gid G
//	tenant show
//
// A tc command addresses one namespace: the global option -n NAME
// (-netns NAME), as iproute2's tc spells it, or the default namespace.
// In a batch file, a line may start with -n NAME: that line addresses
// NAME (netyard's extension, so that one file holds every namespace's
// configuration: what `netyard tc save` prints).

// NetnsSpec is what "netns add|del|set" says.
type NetnsSpec struct {
	Name string
	// All (del) deletes the namespace's devices with it.
	All bool
	// Quantum (set) is the packets per DRR round, 0 for unchanged.
	Quantum int
	// Backlog (set) is the backlog memory limit in bytes; HasBacklog
	// says it was given (0 is "no limit").
	Backlog    uint64
	HasBacklog bool
	// Quotas (set): the most actions, filters and devices the namespace
	// may hold (0: no bound); Has* say which were given.
	Actions, Filters, Devices          int
	HasActions, HasFilters, HasDevices bool
	// Mem (set) are the packet-memory thresholds min, pressure, max in
	// bytes (all 0: none).
	Mem    [3]uint64
	HasMem bool
}

// NetnsView is a namespace as "netns show" shows it.
type NetnsView struct {
	Name    string
	Quantum int
	Backlog uint64 // the limit; 0: none
	// With -s: its devices, its actions, the bytes its backlogs and
	// qdiscs hold, its packets dropped for a spent redirect TTL.
	Devices   []string
	Actions   int
	PacketMem uint64
	LoopDrops uint64
	// The quotas and thresholds, and how often each bit.
	MaxActions, MaxFilters, MaxDevices int // quotas (0: none)
	Mem                                [3]uint64
	Pressure                           bool
	PressureDrops, MaxDrops            uint64
	ActionsRefused                     uint64
	FiltersRefused                     uint64
	DevicesRefused                     uint64
	// Denied counts the commands refused to this namespace's tenants
	// (docs/SECURITY.md).
	Denied uint64
}

// TenantSpec maps a user or a group to a namespace.
type TenantSpec struct {
	Netns string
	// UID or GID (one of them; the other is -1).
	UID, GID int
}

// NetnsTarget is a Target that manages namespaces (the daemon).
type NetnsTarget interface {
	AddNetns(name string) error
	DelNetns(s NetnsSpec) error
	SetNetns(s NetnsSpec) error
	Netns(name string) ([]NetnsView, error)
}

// TenantTarget is a Target that maps users to namespaces (the daemon).
type TenantTarget interface {
	AddTenant(s TenantSpec) error
	DelTenant(s TenantSpec) error
	Tenants() ([]TenantSpec, error)
}

// DevDeleter is a DevTarget that deletes devices ("dev del NAME").
type DevDeleter interface {
	DelDev(name string) error
}

// ValidNetnsName checks a namespace name: 1..64 bytes of letters, digits,
// '-', '_' and '.', not starting with '-' or '.' (it is a word of the
// grammar and a key of the saved configuration).
func ValidNetnsName(s string) error {
	if len(s) == 0 || len(s) > 64 {
		return fmt.Errorf("namespace name %q: 1..64 bytes", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			(c == '-' || c == '.') && i > 0
		if !ok {
			return fmt.Errorf("namespace name %q: letters, digits, '_', '-' and '.' only, not starting with '-' or '.'", s)
		}
	}
	return nil
}

func netnsName(a *Args, key string) (string, error) {
	v, err := a.Value(key, "a namespace name")
	if err != nil {
		return "", err
	}
	if err := ValidNetnsName(v); err != nil {
		return "", syntaxErr(a.Context, v, "%v", err)
	}
	return v, nil
}

func parseNetnsCmd(a *Args) (*Command, error) {
	verb, err := parseVerb(a, []verbRule{{"add", VerbAdd}, {"delete", VerbDelete}, {"set", VerbChange}, {"change", VerbChange},
		{"show", VerbShow}, {"list", VerbShow}, {"ls", VerbShow}})
	if err != nil {
		return nil, err
	}
	c := &Command{Object: ObjNetns, Verb: verb}
	if verb == VerbShow {
		if a.More() {
			if c.Select.Dev, err = netnsName(a, "show"); err != nil {
				return nil, err
			}
		}
		if a.More() {
			return nil, syntaxErr("netns", a.Peek(), "unexpected word (one command a line)")
		}
		return c, nil
	}
	s := &NetnsSpec{}
	if s.Name, err = netnsName(a, verb.String()); err != nil {
		return nil, err
	}
	for a.More() {
		w := a.Next()
		switch {
		case verb == VerbDelete && w == "all":
			s.All = true
		case verb == VerbChange && w == "quantum":
			v, err := a.Value(w, "packets per round")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1<<20 {
				return nil, badValue("netns", w, v, "expected 1..1048576 packets")
			}
			s.Quantum = n
		case verb == VerbChange && w == "backlog":
			v, err := a.Value(w, "a size")
			if err != nil {
				return nil, err
			}
			n, err := ParseSize64(v)
			if err != nil || n > 1<<40 {
				return nil, badValue("netns", w, v, "expected a size up to 1tb (0: no limit)")
			}
			s.Backlog, s.HasBacklog = n, true
		case verb == VerbChange && (w == "actions" || w == "filters" || w == "devices"):
			v, err := a.Value(w, "a count")
			if err != nil {
				return nil, err
			}
			n, ok := parseUint(v, 10, 1<<31-1)
			if !ok {
				return nil, badValue("netns", w, v, "expected a count (0: no bound)")
			}
			switch w {
			case "actions":
				s.Actions, s.HasActions = int(n), true
			case "filters":
				s.Filters, s.HasFilters = int(n), true
			default:
				s.Devices, s.HasDevices = int(n), true
			}
		case verb == VerbChange && w == "mem":
			for i := range s.Mem {
				v, err := a.Value("mem", "three sizes: min pressure max")
				if err != nil {
					return nil, err
				}
				n, err := ParseSize64(v)
				if err != nil || n > 1<<40 {
					return nil, badValue("netns", "mem", v, "expected a size up to 1tb")
				}
				s.Mem[i] = n
			}
			if s.Mem != [3]uint64{} && (s.Mem[0] > s.Mem[1] || s.Mem[1] > s.Mem[2] || s.Mem[2] == 0) {
				return nil, badValue("netns", "mem", fmt.Sprint(s.Mem), "want min <= pressure <= max, max > 0 (0 0 0: none)")
			}
			s.HasMem = true
		default:
			switch verb {
			case VerbDelete:
				return nil, unknownWord("netns", w, "word", []string{"all"})
			case VerbChange:
				return nil, unknownWord("netns", w, "word", []string{"quantum", "backlog", "actions", "filters", "devices", "mem"})
			}
			return nil, syntaxErr("netns", w, "unexpected word (one command a line)")
		}
	}
	if verb == VerbChange && s.Quantum == 0 && !s.HasBacklog && !s.HasActions && !s.HasFilters && !s.HasDevices && !s.HasMem {
		return nil, syntaxErr("netns", "", "netns set needs quantum N, backlog SIZE, actions N, filters N, devices N or mem MIN PRESSURE MAX")
	}
	c.Netns = s
	return c, nil
}

func parseTenantCmd(a *Args) (*Command, error) {
	verb, err := parseVerb(a, []verbRule{{"add", VerbAdd}, {"delete", VerbDelete},
		{"show", VerbShow}, {"list", VerbShow}, {"ls", VerbShow}})
	if err != nil {
		return nil, err
	}
	c := &Command{Object: ObjTenant, Verb: verb}
	if verb == VerbShow {
		if a.More() {
			return nil, syntaxErr("tenant", a.Peek(), "unexpected word (one command a line)")
		}
		return c, nil
	}
	s := &TenantSpec{UID: -1, GID: -1}
	if s.Netns, err = netnsName(a, verb.String()); err != nil {
		return nil, err
	}
	if !a.More() {
		return nil, syntaxErr("tenant", "", "tenant %s NAME needs uid U or gid G", verb)
	}
	w := a.Next()
	if w != "uid" && w != "gid" {
		return nil, unknownWord("tenant", w, "word", []string{"uid", "gid"})
	}
	v, err := a.Value(w, "a numeric id")
	if err != nil {
		return nil, err
	}
	id, ok := parseUint(v, 10, 1<<31-2)
	if !ok {
		return nil, badValue("tenant", w, v, "expected a number 0..2147483646")
	}
	if w == "uid" {
		s.UID = int(id)
	} else {
		s.GID = int(id)
	}
	if a.More() {
		return nil, syntaxErr("tenant", a.Peek(), "unexpected word (one command a line)")
	}
	c.Tenant = s
	return c, nil
}

// FormatTenant is a tenant line's words after "tenant add".
func FormatTenant(s TenantSpec) []string {
	if s.UID >= 0 {
		return []string{s.Netns, "uid", strconv.Itoa(s.UID)}
	}
	return []string{s.Netns, "gid", strconv.Itoa(s.GID)}
}

func formatNetns(c *Command) []string {
	if c.Netns == nil {
		if c.Select.Dev != "" {
			return []string{c.Select.Dev}
		}
		return nil
	}
	s := c.Netns
	w := []string{s.Name}
	if s.All {
		w = append(w, "all")
	}
	if s.Quantum != 0 {
		w = append(w, "quantum", itoa(uint64(s.Quantum)))
	}
	if s.HasBacklog {
		w = append(w, "backlog", itoa(s.Backlog))
	}
	if s.HasActions {
		w = append(w, "actions", itoa(uint64(s.Actions)))
	}
	if s.HasFilters {
		w = append(w, "filters", itoa(uint64(s.Filters)))
	}
	if s.HasDevices {
		w = append(w, "devices", itoa(uint64(s.Devices)))
	}
	if s.HasMem {
		w = append(w, "mem", itoa(s.Mem[0]), itoa(s.Mem[1]), itoa(s.Mem[2]))
	}
	return w
}

func execNetns(t Target, cmd *Command, opts Options, out io.Writer) error {
	nt, ok := t.(NetnsTarget)
	if !ok {
		return fmt.Errorf("netns: this target has no namespaces (the daemon has)")
	}
	switch cmd.Verb {
	case VerbAdd:
		return nt.AddNetns(cmd.Netns.Name)
	case VerbDelete:
		return nt.DelNetns(*cmd.Netns)
	case VerbChange:
		return nt.SetNetns(*cmd.Netns)
	}
	views, err := nt.Netns(cmd.Select.Dev)
	if err != nil {
		return err
	}
	p := &Printer{opts}
	w := p.writer()
	for _, v := range views {
		w.Open("")
		w.String(PrintAny, "name", "netns %s ", v.Name)
		w.Uint(PrintAny, "quantum", "quantum %d ", uint64(v.Quantum))
		w.Uint(PrintAny, "backlog", "backlog %d", v.Backlog)
		if v.MaxActions != 0 {
			w.Uint(PrintAny, "max_actions", " actions %d", uint64(v.MaxActions))
		}
		if v.MaxFilters != 0 {
			w.Uint(PrintAny, "max_filters", " filters %d", uint64(v.MaxFilters))
		}
		if v.MaxDevices != 0 {
			w.Uint(PrintAny, "max_devices", " devices %d", uint64(v.MaxDevices))
		}
		if v.Mem != [3]uint64{} {
			w.Uint(PrintAny, "mem_min", " mem %d", v.Mem[0])
			w.Uint(PrintAny, "mem_pressure", " %d", v.Mem[1])
			w.Uint(PrintAny, "mem_max", " %d", v.Mem[2])
		}
		w.NL()
		if opts.Stats > 0 {
			w.Open("stats")
			w.Text("    devices:")
			w.OpenArray("devices")
			for _, d := range v.Devices {
				w.String(PrintAny, "", " %s", d)
			}
			w.CloseArray()
			w.NL()
			w.Uint(PrintAny, "actions", "    actions %d", uint64(v.Actions))
			w.Uint(PrintAny, "packet_memory", " packet_memory %d", v.PacketMem)
			w.Uint(PrintAny, "loop_drops", " loop_drops %d", v.LoopDrops)
			w.NL()
			pressure := "off"
			if v.Pressure {
				pressure = "on"
			}
			w.String(PrintAny, "pressure", "    pressure %s", pressure)
			w.Uint(PrintAny, "pressure_drops", " pressure_drops %d", v.PressureDrops)
			w.Uint(PrintAny, "max_drops", " max_drops %d", v.MaxDrops)
			w.Uint(PrintAny, "actions_refused", " actions_refused %d", v.ActionsRefused)
			w.Uint(PrintAny, "filters_refused", " filters_refused %d", v.FiltersRefused)
			w.Uint(PrintAny, "devices_refused", " devices_refused %d", v.DevicesRefused)
			w.Uint(PrintAny, "denied", " denied %d", v.Denied)
			w.NL()
			w.Close()
		}
		w.Close()
	}
	return p.flush(w, out)
}

func execTenant(t Target, cmd *Command, opts Options, out io.Writer) error {
	tt, ok := t.(TenantTarget)
	if !ok {
		return fmt.Errorf("tenant: this target has no tenants (the daemon has)")
	}
	switch cmd.Verb {
	case VerbAdd:
		return tt.AddTenant(*cmd.Tenant)
	case VerbDelete:
		return tt.DelTenant(*cmd.Tenant)
	}
	list, err := tt.Tenants()
	if err != nil {
		return err
	}
	p := &Printer{opts}
	w := p.writer()
	for _, s := range list {
		w.Open("")
		w.String(PrintAny, "netns", "tenant %s ", s.Netns)
		if s.UID >= 0 {
			w.Uint(PrintAny, "uid", "uid %d", uint64(s.UID))
		} else {
			w.Uint(PrintAny, "gid", "gid %d", uint64(s.GID))
		}
		w.NL()
		w.Close()
	}
	return p.flush(w, out)
}
