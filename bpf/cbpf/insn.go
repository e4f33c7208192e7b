// Package cbpf is classic BPF as the kernel runs it for tc: the programs
// `tcpdump -ddd EXPR` prints, loaded from tc's "bytecode" and
// "bytecode-file" forms, checked as net/core/filter.c's bpf_check_classic
// does, and run with the semantics the kernel gives them once
// bpf_convert_filter has turned them into eBPF (packet loads through the
// bpf_skb_load_helper_* helpers, the ancillary loads of
// convert_bpf_extensions, division by a zero register returning 0).
//
// A Program is compiled at load into a decoded array of operations with
// absolute jump targets, run by one tight switch; the commonest pair of
// tcpdump's code, a load followed by a compare-and-jump, is fused into one
// operation. docs/BPF.md lists what differs from the kernel.
package cbpf

import (
	"fmt"
	"strconv"
	"strings"
)

// Insn is one classic BPF instruction, struct sock_filter.
type Insn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

func (i Insn) String() string {
	return fmt.Sprintf("%d %d %d %d", i.Code, i.Jt, i.Jf, i.K)
}

// Instruction classes and fields (include/uapi/linux/bpf_common.h,
// filter.h).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	retK = 0x00
	retA = 0x10

	miscTAX = 0x00
	miscTXA = 0x80
)

// MaxInsns is BPF_MAXINSNS.
const MaxInsns = 4096

// MemWords is BPF_MEMWORDS: the scratch memory M[0..15].
const MemWords = 16

// Ancillary loads: an absolute load at SKF_AD_OFF + one of these reads
// packet metadata instead of the packet (include/uapi/linux/filter.h).
const (
	skfADOff = 0xfffff000 // SKF_AD_OFF, -0x1000 as a u32
	// SKF_NET_OFF and SKF_LL_OFF: loads relative to the network and link
	// layer headers.
	skfNetOff = -0x100000
	skfLLOff  = -0x200000

	ADProtocol       = 0
	ADPktType        = 4
	ADIfindex        = 8
	ADNlattr         = 12
	ADNlattrNest     = 16
	ADMark           = 20
	ADQueue          = 24
	ADHatype         = 28
	ADRxhash         = 32
	ADCPU            = 36
	ADAluXorX        = 40
	ADVlanTag        = 44
	ADVlanTagPresent = 48
	ADPayOffset      = 52
	ADRandom         = 56
	ADVlanTPID       = 60
	adMax            = 64
)

// Format writes insns in tc's bytecode form, "N,c t f k,c t f k,...", as
// tcpdump -ddd piped through tr '\n' ',' gives it and as tc prints it.
func Format(insns []Insn) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(insns)))
	for _, in := range insns {
		b.WriteByte(',')
		b.WriteString(strconv.FormatUint(uint64(in.Code), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(in.Jt), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(in.Jf), 10))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(in.K), 10))
	}
	return b.String()
}
