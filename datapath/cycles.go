package datapath

import (
	"fmt"
	"log/slog"
	"slices"

	"netyard/act"
	"netyard/cls"
	"netyard/tcsyntax"
	"netyard/wire"
)

// The control plane's view of redirect loops. A node is one hook of one
// device; an edge is a way every packet of some protocol takes from one
// hook to another without a condition: an unconditional filter's mirred
// (a matchall, or a flower with no keys, reached without a consuming
// verdict before it), or the wire of an in-memory pair (what an egress
// hook lets through arrives at the peer's ingress). A cycle of such edges
// is a loop that any packet entering it would run until its redirect TTL
// is spent. Adding a filter that closes one is accepted, as the kernel
// accepts it, with a warning; "tc loops show" lists them all.

// maxCycles bounds the listing: the number of elementary cycles can grow
// exponentially with the devices, and a user needs the first few to see
// what is wrong.
const maxCycles = 64

type hookNode struct {
	dev     *Device
	ingress bool
}

// edge is one unconditional way out of a hook, for packets of protocol
// (wire.EtherTypeAll for any).
type edge struct {
	to    hookNode
	proto uint16
}

// graphHook is what the hook graph needs of one hook: its graph-relevant
// filters, those of chain 0 whose classifier is unconditional (a matchall,
// a flower with no keys), in prio, handle order. Only they can make an edge
// or end the hook for every packet; a keyed flower never does, so adding,
// replacing or deleting one costs the graph nothing (a million subscriber
// filters must not rebuild it a million times). At most one such filter
// exists per prio (a matchall prio holds one filter; flower refuses two
// with the same keys), so the list stays short. It is kept under Engine.mu
// by AddFilter, DelFilter and flushHook.
type graphHook struct {
	rel []relFilter
}

// relFilter is one graph-relevant filter: its place, its protocol and the
// (kind, index) of the actions it binds. The actions' parameters are read
// from the action table when edges are computed, as "tc filter show" reads
// them, so that "tc actions replace" of a bound mirred is seen at once.
type relFilter struct {
	prio     uint16
	handle   uint32
	protocol uint16
	actions  []actKey
}

type actKey struct {
	kind  string
	index uint32
}

func (g *graphHook) find(prio uint16, handle uint32) (int, bool) {
	return slices.BinarySearchFunc(g.rel, relFilter{prio: prio, handle: handle}, func(a, b relFilter) int {
		if a.prio != b.prio {
			return int(a.prio) - int(b.prio)
		}
		switch {
		case a.handle < b.handle:
			return -1
		case a.handle > b.handle:
			return 1
		}
		return 0
	})
}

// added records f, as AddFilter left it (its prio, handle, protocol and
// action indexes chosen), and reports whether the graph may have changed:
// f is relevant, or it replaced a relevant filter.
func (g *graphHook) added(f *cls.Filter) bool {
	if f.Chain != 0 {
		return false
	}
	i, had := g.find(f.Prio, f.Handle)
	if !unconditional(f.Classifier) {
		if had {
			g.rel = slices.Delete(g.rel, i, i+1)
		}
		return had
	}
	r := relFilter{prio: f.Prio, handle: f.Handle, protocol: f.Protocol, actions: make([]actKey, len(f.Actions))}
	for j, a := range f.Actions {
		r.actions[j] = actKey{a.Kind(), a.Common().Index}
	}
	if had {
		g.rel[i] = r
	} else {
		g.rel = slices.Insert(g.rel, i, r)
	}
	return true
}

// deleted drops what a successful DelFilter with selector sel removed, as
// cls.Chains.Delete selects: prio 0 the whole chain, handle 0 the prio.
func (g *graphHook) deleted(sel *cls.Filter) bool {
	if sel.Chain != 0 || len(g.rel) == 0 {
		return false
	}
	n := len(g.rel)
	switch {
	case sel.Prio == 0:
		g.rel = g.rel[:0]
	case sel.Handle == 0:
		g.rel = slices.DeleteFunc(g.rel, func(r relFilter) bool { return r.prio == sel.Prio })
	default:
		if i, ok := g.find(sel.Prio, sel.Handle); ok {
			g.rel = slices.Delete(g.rel, i, i+1)
		}
	}
	return len(g.rel) != n
}

func (g *graphHook) flush() { g.rel = nil }

// graphHook returns the graph state of hook n.
func (n hookNode) graph() *graphHook {
	if n.ingress {
		return &n.dev.inGraph
	}
	return &n.dev.egGraph
}

// hookEdges returns the unconditional edges out of a hook, and whether a
// packet can get through it (to the host side or the wire)
// unconditionally, from its graph-relevant filters.
func (ns *Namespace) hookEdges(n hookNode) (edges []edge, passes bool) {
	for _, r := range n.graph().rel {
		specs := make([]act.Spec, 0, len(r.actions))
		for _, k := range r.actions {
			v, err := ns.actions.Get(k.kind, k.index)
			if err != nil {
				// A bound action stays in the table (cls.Chains
				// panics on losing one when listing).
				panic(fmt.Sprintf("datapath: redirect graph: %s filter prio %d handle %#x: bound %s index %d: %v",
					n.dev.nd.Name(), r.prio, r.handle, k.kind, k.index, err))
			}
			specs = append(specs, v.Spec)
		}
		es, ends, final := ns.filterEdges(r.protocol, specs)
		edges = append(edges, es...)
		if final {
			return edges, !ends
		}
	}
	return edges, true
}

// hookEdgesScan is hookEdges computed the old way, by walking every filter
// of the hook's chain 0: the reference the incremental graph is tested
// against.
func (ns *Namespace) hookEdgesScan(n hookNode) (edges []edge, passes bool) {
	chains := n.dev.egChains
	if n.ingress {
		chains = n.dev.inChains
	}
	zero := uint32(0)
	for _, f := range chains.List(&zero) {
		if !unconditional(f.Spec.Classifier) {
			continue
		}
		es, ends, final := ns.filterEdges(f.Spec.Protocol, f.Spec.Actions)
		edges = append(edges, es...)
		if final {
			return edges, !ends
		}
	}
	return edges, true
}

// filterEdges reads one unconditional filter of protocol proto: the edges
// its mirreds make, whether its action list ends the packet's way through
// the hook, and whether the filters after it are reached at all (final:
// the filter is for every protocol and either ends the packet or passes
// it on with a list ending in pipe).
func (ns *Namespace) filterEdges(proto uint16, actions []act.Spec) (edges []edge, ends, final bool) {
	for _, a := range actions {
		switch s := a.(type) {
		case *act.Mirred:
			if t, ok := ns.devices[s.Dev]; ok {
				edges = append(edges, edge{hookNode{t, s.Ingress}, proto})
			}
			if !s.Mirror && s.C.Control != act.Pipe && s.C.Control != act.Unspec {
				ends = true
			}
		case *act.Gact:
			if s.C.Control != act.Pipe {
				ends = s.C.Control != act.Unspec
			}
		case *act.Police:
			ends = true // conditional from here on
		}
		if ends {
			break
		}
	}
	// A list that ends in pipe passes the packet: the filters after
	// this one do not see it.
	return edges, ends, proto == wire.EtherTypeAll
}

func unconditional(c cls.Spec) bool {
	switch s := c.(type) {
	case *cls.Matchall:
		return true
	case *cls.Flower:
		return s.MatchesAll()
	}
	return false
}

// graph builds the namespace's hook graph with edgesOf (hookEdges; tests
// pass the rescanning hookEdgesScan). The caller holds Engine.mu.
func (ns *Namespace) graph(edgesOf func(hookNode) ([]edge, bool)) (nodes []hookNode, out map[hookNode][]edge) {
	devs := make([]*Device, 0, len(ns.devices))
	for _, d := range ns.devices {
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(a, b *Device) int { return int(a.nd.Index() - b.nd.Index()) })
	out = map[hookNode][]edge{}
	for _, d := range devs {
		for _, ing := range []bool{true, false} {
			n := hookNode{d, ing}
			nodes = append(nodes, n)
			es, passes := edgesOf(n)
			if !ing && passes {
				// What egress lets through goes on the wire; a
				// pair's wire leads to the peer's ingress.
				if p := d.nd.Peer(); p != nil {
					if pd := ns.e.device(p.Index()); pd != nil && pd.nd == p {
						es = append(es, edge{hookNode{pd, true}, wire.EtherTypeAll})
					}
				}
			}
			out[n] = es
		}
	}
	return nodes, out
}

// maxVisits bounds the work of one cycle search: a dense graph has more
// elementary cycles than anyone could read (a complete graph of k hooks has
// about (k-1)! of them), and the search runs under the control plane's lock.
// Past it the listing says it is truncated.
const maxVisits = 200_000

// cycleSearch enumerates elementary cycles of the hook graph whose edges
// share a protocol, within strongly connected components (Tarjan), each
// cycle once, starting at its lowest node; from is nil for every cycle, or
// a node to find only the cycles through it.
type cycleSearch struct {
	nodes     []hookNode
	out       map[hookNode][]edge
	rank      map[hookNode]int
	comp      map[hookNode]int
	found     [][]hookNode
	visits    int
	truncated bool
}

func (ns *Namespace) newCycleSearch(edgesOf func(hookNode) ([]edge, bool)) *cycleSearch {
	nodes, out := ns.graph(edgesOf)
	ns.graphBuilds++
	c := &cycleSearch{nodes: nodes, out: out, rank: map[hookNode]int{}, comp: map[hookNode]int{}}
	for i, n := range nodes {
		c.rank[n] = i
	}
	c.components()
	return c
}

// components is Tarjan's algorithm; c.comp maps each node to its
// strongly connected component. Only nodes of one component can be on a
// cycle together.
func (c *cycleSearch) components() {
	index := map[hookNode]int{}
	low := map[hookNode]int{}
	onStack := map[hookNode]bool{}
	var stack []hookNode
	next, ncomp := 0, 0
	var strong func(v hookNode)
	strong = func(v hookNode) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range c.out[v] {
			w := e.to
			if _, seen := index[w]; !seen {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				c.comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for _, n := range c.nodes {
		if _, seen := index[n]; !seen {
			strong(n)
		}
	}
}

// from finds the cycles that start at start and otherwise use only nodes
// of its component accepted by ok.
func (c *cycleSearch) from(start hookNode, ok func(hookNode) bool) {
	var path []hookNode
	onPath := map[hookNode]bool{}
	var walk func(n hookNode, proto uint16)
	walk = func(n hookNode, proto uint16) {
		path = append(path, n)
		onPath[n] = true
		for _, e := range c.out[n] {
			if len(c.found) >= maxCycles || c.visits >= maxVisits {
				c.truncated = true
				break
			}
			c.visits++
			p, meets := meet(proto, e.proto)
			if !meets || c.comp[e.to] != c.comp[start] {
				continue
			}
			if e.to == start {
				c.found = append(c.found, slices.Clone(path))
				continue
			}
			if ok(e.to) && !onPath[e.to] {
				walk(e.to, p)
			}
		}
		path = path[:len(path)-1]
		onPath[n] = false
	}
	walk(start, wire.EtherTypeAll)
}

// cycles lists the elementary cycles, each once (from its lowest node,
// through higher nodes only), and whether the listing was cut short.
func (ns *Namespace) cycles(edgesOf func(hookNode) ([]edge, bool)) ([][]hookNode, bool) {
	c := ns.newCycleSearch(edgesOf)
	for si, start := range c.nodes {
		c.from(start, func(n hookNode) bool { return c.rank[n] > si })
		if c.truncated {
			break
		}
	}
	return c.found, c.truncated
}

// cyclesThrough lists cycles through n (each rotated to start at n).
func (ns *Namespace) cyclesThrough(n hookNode) ([][]hookNode, bool) {
	c := ns.newCycleSearch(ns.hookEdges)
	c.from(n, func(hookNode) bool { return true })
	return c.found, c.truncated
}

// meet is the protocol both edges carry: "all" meets anything.
func meet(a, b uint16) (uint16, bool) {
	switch {
	case a == wire.EtherTypeAll:
		return b, true
	case b == wire.EtherTypeAll, a == b:
		return a, true
	}
	return 0, false
}

func toHooks(c []hookNode) []tcsyntax.Hook {
	hs := make([]tcsyntax.Hook, len(c))
	for i, n := range c {
		hs[i] = tcsyntax.Hook{Dev: n.dev.nd.Name(), Ingress: n.ingress}
	}
	return hs
}

// RedirectCycles implements tcsyntax.CycleLister.
func (ns *Namespace) RedirectCycles() [][]tcsyntax.Hook {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	var out [][]tcsyntax.Hook
	cs, _ := ns.cycles(ns.hookEdges)
	for _, c := range cs {
		out = append(out, toHooks(c))
	}
	return out
}

var _ tcsyntax.CycleLister = (*Namespace)(nil)

// cycleWarning returns a warning naming the cycles through hook n, or nil.
// The caller holds Engine.mu.
func (ns *Namespace) cycleWarning(n hookNode) error {
	through, truncated := ns.cyclesThrough(n)
	if len(through) == 0 {
		return nil
	}
	more := ""
	if truncated {
		more = " or more"
	}
	msg := fmt.Sprintf("filter closes %d%s redirect cycle(s); a packet in one is dropped after %d redirects (redirect TTL): %s",
		len(through), more, ns.e.cfg.RedirectTTL, tcsyntax.FormatCycle(toHooks(through[0])))
	if len(through) > 1 {
		msg += " (tc loops show lists them)"
	}
	ns.e.log.Warn("tc: "+msg, slog.String("namespace", ns.name))
	return &tcsyntax.Warning{Msg: msg}
}
