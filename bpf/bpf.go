// Package bpf is what the bpf classifier and the bpf action need from a
// program, whatever its kind: classic BPF (package bpf/cbpf, what
// `tcpdump -ddd` prints) or extended BPF from a clang object file (package
// bpf/ebpf). The classifier and the action hold a Program and call Run once
// per packet; they do not know which kind it is.
package bpf

import (
	"crypto/sha1"
	"errors"
	"strconv"
	"sync/atomic"

	"netyard/pkt"
)

// Program is a loaded, checked program, ready to run on packets. Loading
// did every check that can be done before a packet arrives (the kernel's
// bpf_check_classic, or the verifier's structural checks for eBPF); what
// is left for run time (an access outside its regions, a division by a
// zero register, a loop that does not end) stops the program with a
// *Fault and never panics.
//
// Run must not allocate on the classifier path and must be safe for
// concurrent use by several workers (per-run state lives on the caller's
// stack or in Env).
type Program interface {
	// Run runs the program on p (the frame at p.Data() and its metadata)
	// and returns its return value: A for classic BPF, R0 for eBPF. A
	// program may change p (its data and its metadata) where its kind
	// allows it.
	Run(p *pkt.Buffer, env *Env) (uint64, error)
	// Info describes the program for tc's printer and `bpf prog show`.
	Info() Info
}

// Env is what a run needs from the datapath beyond the packet. The worker
// that classifies owns it; a Program reads it and may record requests in
// it (a redirect), which the caller carries out after Run returns.
type Env struct {
	// Ifindex is the device whose hook runs the program (skb->dev).
	Ifindex int32
	// Ingress says the hook is the device's ingress (clsact ingress).
	Ingress bool
	// Link is the device's link layer: LinkEthernet, or LinkIEEE80211
	// where frames start at their 802.11 header (docs/WIFI.md).
	Link uint8
	// Now is the datapath's clock in nanoseconds: virtual time in replay
	// and the lab, so that runs repeat exactly.
	Now int64
	// CPU is the worker's number (get_smp_processor_id, SKF_AD_CPU).
	CPU int
	// Rand is the worker's seeded generator state (get_prandom_u32,
	// SKF_AD_RANDOM); seeded from the engine so replays repeat.
	Rand *uint64
	// RedirectIfindex and RedirectFlags are set by bpf_redirect; the
	// caller acts on them when the program returns TC_ACT_REDIRECT.
	RedirectIfindex int32
	RedirectFlags   uint64

	// ClassID is __sk_buff->tc_classid, a u16 in the kernel (struct
	// qdisc_skb_cb): on entry the value a run starts with (cls_bpf
	// presets the filter classid's minor, as cls_bpf_classify does;
	// every other hook 0), after the run what the program left there,
	// from which cls_bpf in direct-action mode takes the class.
	ClassID uint32
	// CloneRedirect carries out bpf_clone_redirect at once, as the
	// kernel does: it sends a copy of p, as it is at the call, to the
	// device ifindex (its ingress when flags has BPF_F_INGRESS, 1) and
	// returns 0 or a negative errno. Nil: the helper returns -EOPNOTSUPP.
	CloneRedirect func(p *pkt.Buffer, ifindex int32, flags uint64) int64
	// Scratch is the worker's run scratch for eBPF programs (registers,
	// stacks: ebpf.NewScratch), set once when the worker makes its Env.
	// With it a run takes no atomic operation to find its scratch; nil
	// works too (a per-program scratch per CPU, taken with a CAS).
	Scratch any
}

// Releaser is a Program that wants to know when its filter or action is
// gone (an eBPF program leaves `bpf prog show`'s listing). Release is
// called once, when no new packet can reach the program; a run already
// under way may still finish.
type Releaser interface {
	Release()
}

// Info describes a loaded program as tc and bpftool print it.
type Info struct {
	// Kind is "classic" or "extended".
	Kind string
	// Name is the program's name: the ELF section or function for eBPF
	// (tc prints "bpf name NAME"), or how it was given for classic BPF
	// ("bytecode" or the file).
	Name string
	// Tag is the first 8 bytes of the SHA-1 of the instructions, as the
	// kernel computes a program's tag (bpf_prog_calc_tag).
	Tag [8]byte
	// ID is the program's id, unique in the process while it is loaded.
	ID uint32
	// Insns is the number of instructions.
	Insns int
}

// Fault is a run-time stop: the program did something its checks could
// not rule out at load time. The packet is dropped and the fault counted.
type Fault struct {
	PC     int    // the instruction that faulted
	Reason string // "read outside packet", "division by zero", "instruction limit", ...
}

func (f *Fault) Error() string {
	return "bpf: program stopped at insn " + strconv.Itoa(f.PC) + ": " + f.Reason
}

// Tag is a program's tag from its instructions' bytes, as the kernel's
// bpf_prog_calc_tag computes it: the first 8 bytes of their SHA-1. (The
// kernel zeroes map references in 64-bit immediates first; the caller
// passes the bytes to hash.)
func Tag(insns []byte) [8]byte {
	s := sha1.Sum(insns)
	var t [8]byte
	copy(t[:], s[:8])
	return t
}

// ObjectLoader loads an eBPF program from a clang object file: the ELF
// at path, its program in section (the first program when section is
// ""). The bpf classifier and action find it on the act.Env they are made
// with; the datapath's env has one when the engine's LoadObject is set.
type ObjectLoader interface {
	LoadObject(path, section string) (Program, error)
}

// ErrNoObjectLoader is what an object file gets where no loader is wired.
var ErrNoObjectLoader = errors.New("object files need the eBPF loader (package bpf/ebpf), which this build has not wired in")

// lastID numbers loaded programs (Info.ID).
var lastID atomic.Uint32

// NewID returns a new program id, unique in the process: what tc prints
// as "id N" and `bpf prog show` lists.
func NewID() uint32 { return lastID.Add(1) }

// Rand32 draws 32 random bits from st, the worker's seeded state
// (Env.Rand: bpf_get_prandom_u32, classic BPF's SKF_AD_RANDOM and gact's
// netrand all draw from it, so that replay and the lab, which fix the
// engine's seed, repeat exactly): a splitmix64 step. A nil st (a caller
// without a worker) draws from one process-wide sequence.
func Rand32(st *uint64) uint32 {
	var z uint64
	if st != nil {
		*st += splitmixGamma
		z = *st
	} else {
		z = fallbackRand.Add(splitmixGamma)
	}
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint32((z ^ z>>31) >> 32)
}

// splitmixGamma is splitmix64's increment (the golden ratio in 64 bits).
const splitmixGamma = 0x9e3779b97f4a7c15

var fallbackRand atomic.Uint64
