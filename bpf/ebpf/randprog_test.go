package ebpf

import "math/rand/v2"

// randProgram generates a random program the kernel's verifier is likely
// to accept: straight-line ALU (every operation, 32 and 64 bits, K and X,
// signed division and modulo, movsx, byte swaps), forward branches of
// every kind, stack stores, loads and atomics at constant offsets, packet
// loads and stores behind a data_end check, and context reads and writes.
// Registers: r6 = ctx, r7 = data, r8 = data_end, r9 scratch; r0..r5 hold
// the scalars the body computes. The epilogue writes r0..r5 to cb[] and
// mark so that the test sees everything.
func randProgram(rng *rand.Rand, n int) []RawInsn {
	var p []RawInsn
	emit := func(in RawInsn) { p = append(p, in) }
	lddw := func(dst uint8, v uint64) {
		emit(RawInsn{Op: 0x18, Dst: dst, Imm: int32(uint32(v))})
		emit(RawInsn{Imm: int32(uint32(v >> 32))})
	}
	scalar := func() uint8 { return uint8(rng.IntN(6)) }
	interesting := []uint64{0, 1, 2, 7, 31, 32, 63, 64, 0x7fffffff, 0x80000000, 0xffffffff,
		1 << 63, 0x7fffffffffffffff, 0xffffffffffffffff, 0xfffffffffffffff8}
	val := func() uint64 {
		if rng.IntN(2) == 0 {
			return interesting[rng.IntN(len(interesting))]
		}
		return rng.Uint64()
	}
	imm := func() int32 {
		if rng.IntN(3) == 0 {
			return int32(uint32(interesting[rng.IntN(len(interesting))]))
		}
		return int32(rng.Uint32()) >> rng.IntN(32)
	}

	// prologue
	emit(RawInsn{Op: clsALU64 | 0xb0 | srcX, Dst: 6, Src: 1})                    // r6 = r1
	emit(RawInsn{Op: clsLDX | modeMEM | sizeW, Dst: 7, Src: 6, Off: skbData})    // r7 = data
	emit(RawInsn{Op: clsLDX | modeMEM | sizeW, Dst: 8, Src: 6, Off: skbDataEnd}) // r8 = data_end
	for r := uint8(0); r <= 5; r++ {
		switch rng.IntN(3) {
		case 0:
			lddw(r, val())
		case 1:
			fields := []int16{skbLen, skbMark, skbPriority, skbProtocol, skbCB, skbCB + 8, skbIfindex, skbPktType}
			emit(RawInsn{Op: clsLDX | modeMEM | sizeW, Dst: r, Src: 6, Off: fields[rng.IntN(len(fields))]})
		default:
			emit(RawInsn{Op: clsALU64 | 0xb0, Dst: r, Imm: imm()})
		}
	}
	for k := int16(1); k <= 4; k++ { // initialise four stack slots
		emit(RawInsn{Op: clsSTX | modeMEM | sizeDW, Dst: 10, Src: uint8(k), Off: -8 * k})
	}

	body := len(p)
	type fix struct{ at, target int }
	var fixes []fix
	for len(p)-body < n {
		switch c := rng.IntN(20); {
		case c < 9: // ALU
			cls := uint8(clsALU64)
			if rng.IntN(3) == 0 {
				cls = clsALU
			}
			o := uint8(rng.IntN(13))
			in := RawInsn{Dst: scalar()}
			x := rng.IntN(2) == 0
			switch o {
			case 0x8: // neg
				x = false
			case 0xd:
			}
			in.Op = cls | o<<4
			if x {
				in.Op |= srcX
				in.Src = scalar()
			} else {
				in.Imm = imm()
			}
			switch o {
			case 0x3, 0x9: // div, mod; sometimes signed
				if rng.IntN(2) == 0 {
					in.Off = 1
				}
				if !x && in.Imm == 0 {
					in.Imm = 3
				}
			case 0x6, 0x7, 0xc: // shifts
				if !x {
					w := int32(64)
					if cls == clsALU {
						w = 32
					}
					in.Imm = int32(uint32(in.Imm) % uint32(w))
				}
			case 0xb: // mov, movsx
				if x && rng.IntN(3) == 0 {
					in.Off = []int16{8, 16, 32}[rng.IntN(3)]
					if cls == clsALU && in.Off == 32 {
						in.Off = 16
					}
				}
			}
			emit(in)
		case c < 10: // byte swaps
			sz := []int32{16, 32, 64}[rng.IntN(3)]
			switch rng.IntN(3) {
			case 0:
				emit(RawInsn{Op: clsALU | 0xd0, Dst: scalar(), Imm: sz})
			case 1:
				emit(RawInsn{Op: clsALU | 0xd0 | srcX, Dst: scalar(), Imm: sz})
			default:
				emit(RawInsn{Op: clsALU64 | 0xd0, Dst: scalar(), Imm: sz})
			}
		case c < 13: // forward conditional jump
			cls := uint8(clsJMP)
			if rng.IntN(3) == 0 {
				cls = clsJMP32
			}
			ops := []uint8{0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0xa, 0xb, 0xc, 0xd}
			in := RawInsn{Op: cls | ops[rng.IntN(len(ops))]<<4, Dst: scalar()}
			if rng.IntN(2) == 0 {
				in.Op |= srcX
				in.Src = scalar()
			} else {
				in.Imm = imm()
			}
			fixes = append(fixes, fix{len(p), body + n + rng.IntN(3)})
			emit(in)
		case c < 15: // stack
			slot := int16(-8 * (1 + rng.IntN(4)))
			switch rng.IntN(4) {
			case 0:
				sz := []uint8{sizeB, sizeH, sizeW, sizeDW}[rng.IntN(4)]
				emit(RawInsn{Op: clsSTX | modeMEM | sz, Dst: 10, Src: scalar(), Off: slot})
			case 1:
				sz := []uint8{sizeB, sizeH, sizeW, sizeDW}[rng.IntN(4)]
				mode := uint8(modeMEM)
				if sz != sizeDW && rng.IntN(2) == 0 {
					mode = modeMEMSX
				}
				emit(RawInsn{Op: clsLDX | mode | sz, Dst: scalar(), Src: 10, Off: slot})
			case 2:
				emit(RawInsn{Op: clsST | modeMEM | sizeW, Dst: 10, Off: slot + 4, Imm: imm()})
			default:
				a := []int32{0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1}[rng.IntN(10)]
				sz := uint8(sizeDW)
				if rng.IntN(2) == 0 {
					sz = sizeW
				}
				emit(RawInsn{Op: clsSTX | modeATOMIC | sz, Dst: 10, Src: scalar(), Off: slot, Imm: a})
			}
		case c < 18: // packet access behind a bounds check
			k := 1 + rng.IntN(3)
			emit(RawInsn{Op: clsALU64 | 0xb0 | srcX, Dst: 9, Src: 7})
			emit(RawInsn{Op: clsALU64 | 0x00, Dst: 9, Imm: 64})
			emit(RawInsn{Op: clsJMP | 0x20 | srcX, Dst: 9, Src: 8, Off: int16(k)}) // if r9 > r8 skip
			for range k {
				sz := []uint8{sizeB, sizeH, sizeW, sizeDW}[rng.IntN(4)]
				w := map[uint8]int{sizeB: 1, sizeH: 2, sizeW: 4, sizeDW: 8}[sz]
				off := int16(rng.IntN(64 - w + 1))
				if rng.IntN(3) == 0 {
					emit(RawInsn{Op: clsSTX | modeMEM | sz, Dst: 7, Src: scalar(), Off: off})
				} else {
					emit(RawInsn{Op: clsLDX | modeMEM | sz, Dst: scalar(), Src: 7, Off: off})
				}
			}
		default: // context
			if rng.IntN(2) == 0 {
				fields := []int16{skbLen, skbMark, skbPriority, skbCB + 4, skbCB + 16, skbHash, skbQueueMapping, skbIngressIfindex}
				emit(RawInsn{Op: clsLDX | modeMEM | sizeW, Dst: scalar(), Src: 6, Off: fields[rng.IntN(len(fields))]})
			} else {
				fields := []int16{skbMark, skbPriority, skbCB, skbCB + 12}
				emit(RawInsn{Op: clsSTX | modeMEM | sizeW, Dst: 6, Src: scalar(), Off: fields[rng.IntN(len(fields))]})
			}
		}
	}
	// epilogue: three landing pads then the results
	end := len(p)
	emit(RawInsn{Op: clsALU64 | 0x00, Dst: 0, Imm: 1})
	emit(RawInsn{Op: clsALU64 | 0xa0, Dst: 1, Imm: 0x55})
	for r := uint8(1); r <= 5; r++ {
		emit(RawInsn{Op: clsSTX | modeMEM | sizeW, Dst: 6, Src: r, Off: skbCB + 4*int16(r-1)})
	}
	emit(RawInsn{Op: clsALU64 | 0xb0 | srcX, Dst: 9, Src: 0})
	emit(RawInsn{Op: clsALU64 | 0x70, Dst: 9, Imm: 32})
	emit(RawInsn{Op: clsSTX | modeMEM | sizeW, Dst: 6, Src: 9, Off: skbMark})
	emit(RawInsn{Op: 0x95})
	for _, f := range fixes {
		t := f.target - body - n + end
		p[f.at].Off = int16(t - f.at - 1)
	}
	return p
}
