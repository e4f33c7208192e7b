// The compiled form's closures for the ALU, loads, stores and
// conditional jumps, written mechanically from the cases of (*state).exec
// in vm.go (same statements; a fault returns cFault instead of leaving
// the loop). Keep the two in step: TestCompiledMatchesInterpreter and
// FuzzCompiled run both forms on the same programs.

package ebpf

import (
	"encoding/binary"
	"math/bits"
)

// compileStraight is the closure of an instruction that goes on to the
// next one (ALU, loads and stores), or nil for the others. Its operands
// are bound now; next is what runs after it.
func compileStraight(in *insn, pc int, next cfn) cfn {
	d, sr := in.dst&15, in.src&15
	off, imm := in.off, in.imm
	switch in.op {
	case a64AddK:
		return func(s *state) int {
			r := &s.regs
			r[d] += uint64(imm)
			return next(s)
		}
	case a64AddX:
		return func(s *state) int {
			r := &s.regs
			r[d] += r[sr]
			return next(s)
		}
	case a64SubK:
		return func(s *state) int {
			r := &s.regs
			r[d] -= uint64(imm)
			return next(s)
		}
	case a64SubX:
		return func(s *state) int {
			r := &s.regs
			r[d] -= r[sr]
			return next(s)
		}
	case a64MulK:
		return func(s *state) int {
			r := &s.regs
			r[d] *= uint64(imm)
			return next(s)
		}
	case a64MulX:
		return func(s *state) int {
			r := &s.regs
			r[d] *= r[sr]
			return next(s)
		}
	case a64DivK:
		return func(s *state) int {
			r := &s.regs
			r[d] /= uint64(imm)
			return next(s)
		}
	case a64DivX:
		return func(s *state) int {
			r := &s.regs
			if r[sr] == 0 {
				r[d] = 0
			} else {
				r[d] /= r[sr]
			}
			return next(s)
		}
	case a64SDivK:
		return func(s *state) int {
			r := &s.regs
			r[d] = sdiv64(r[d], uint64(imm))
			return next(s)
		}
	case a64SDivX:
		return func(s *state) int {
			r := &s.regs
			r[d] = sdiv64(r[d], r[sr])
			return next(s)
		}
	case a64OrK:
		return func(s *state) int {
			r := &s.regs
			r[d] |= uint64(imm)
			return next(s)
		}
	case a64OrX:
		return func(s *state) int {
			r := &s.regs
			r[d] |= r[sr]
			return next(s)
		}
	case a64AndK:
		return func(s *state) int {
			r := &s.regs
			r[d] &= uint64(imm)
			return next(s)
		}
	case a64AndX:
		return func(s *state) int {
			r := &s.regs
			r[d] &= r[sr]
			return next(s)
		}
	case a64LshK:
		return func(s *state) int {
			r := &s.regs
			r[d] <<= uint64(imm)
			return next(s)
		}
	case a64LshX:
		return func(s *state) int {
			r := &s.regs
			r[d] <<= r[sr] & 63
			return next(s)
		}
	case a64RshK:
		return func(s *state) int {
			r := &s.regs
			r[d] >>= uint64(imm)
			return next(s)
		}
	case a64RshX:
		return func(s *state) int {
			r := &s.regs
			r[d] >>= r[sr] & 63
			return next(s)
		}
	case a64Neg:
		return func(s *state) int {
			r := &s.regs
			r[d] = -r[d]
			return next(s)
		}
	case a64ModK:
		return func(s *state) int {
			r := &s.regs
			r[d] %= uint64(imm)
			return next(s)
		}
	case a64ModX:
		return func(s *state) int {
			r := &s.regs
			if r[sr] != 0 {
				r[d] %= r[sr]
			}
			return next(s)
		}
	case a64SModK:
		return func(s *state) int {
			r := &s.regs
			r[d] = smod64(r[d], uint64(imm))
			return next(s)
		}
	case a64SModX:
		return func(s *state) int {
			r := &s.regs
			r[d] = smod64(r[d], r[sr])
			return next(s)
		}
	case a64XorK:
		return func(s *state) int {
			r := &s.regs
			r[d] ^= uint64(imm)
			return next(s)
		}
	case a64XorX:
		return func(s *state) int {
			r := &s.regs
			r[d] ^= r[sr]
			return next(s)
		}
	case a64MovK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(imm)
			return next(s)
		}
	case a64MovX:
		return func(s *state) int {
			r := &s.regs
			r[d] = r[sr]
			return next(s)
		}
	case a64Movsx8:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(int64(int8(r[sr])))
			return next(s)
		}
	case a64Movsx16:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(int64(int16(r[sr])))
			return next(s)
		}
	case a64Movsx32:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(int64(int32(r[sr])))
			return next(s)
		}
	case a64ArshK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(int64(r[d]) >> uint64(imm))
			return next(s)
		}
	case a64ArshX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(int64(r[d]) >> (r[sr] & 63))
			return next(s)
		}
	case a64Bswap16:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
			return next(s)
		}
	case a64Bswap32:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
			return next(s)
		}
	case a64Bswap64:
		return func(s *state) int {
			r := &s.regs
			r[d] = bits.ReverseBytes64(r[d])
			return next(s)
		}
	case a32AddK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) + uint32(imm))
			return next(s)
		}
	case a32AddX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) + uint32(r[sr]))
			return next(s)
		}
	case a32SubK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) - uint32(imm))
			return next(s)
		}
	case a32SubX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) - uint32(r[sr]))
			return next(s)
		}
	case a32MulK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) * uint32(imm))
			return next(s)
		}
	case a32MulX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) * uint32(r[sr]))
			return next(s)
		}
	case a32DivK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) / uint32(imm))
			return next(s)
		}
	case a32DivX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[sr]) == 0 {
				r[d] = 0
			} else {
				r[d] = uint64(uint32(r[d]) / uint32(r[sr]))
			}
			return next(s)
		}
	case a32SDivK:
		return func(s *state) int {
			r := &s.regs
			r[d] = sdiv32(r[d], uint64(imm))
			return next(s)
		}
	case a32SDivX:
		return func(s *state) int {
			r := &s.regs
			r[d] = sdiv32(r[d], r[sr])
			return next(s)
		}
	case a32OrK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) | uint32(imm))
			return next(s)
		}
	case a32OrX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) | uint32(r[sr]))
			return next(s)
		}
	case a32AndK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) & uint32(imm))
			return next(s)
		}
	case a32AndX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) & uint32(r[sr]))
			return next(s)
		}
	case a32LshK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) << uint32(imm))
			return next(s)
		}
	case a32LshX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) << (uint32(r[sr]) & 31))
			return next(s)
		}
	case a32RshK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) >> uint32(imm))
			return next(s)
		}
	case a32RshX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) >> (uint32(r[sr]) & 31))
			return next(s)
		}
	case a32Neg:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(-uint32(r[d]))
			return next(s)
		}
	case a32ModK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) % uint32(imm))
			return next(s)
		}
	case a32ModX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[sr]) != 0 {
				r[d] = uint64(uint32(r[d]) % uint32(r[sr]))
			} else {
				r[d] = uint64(uint32(r[d]))
			}
			return next(s)
		}
	case a32SModK:
		return func(s *state) int {
			r := &s.regs
			r[d] = smod32(r[d], uint64(imm))
			return next(s)
		}
	case a32SModX:
		return func(s *state) int {
			r := &s.regs
			r[d] = smod32(r[d], r[sr])
			return next(s)
		}
	case a32XorK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) ^ uint32(imm))
			return next(s)
		}
	case a32XorX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]) ^ uint32(r[sr]))
			return next(s)
		}
	case a32MovK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(imm))
			return next(s)
		}
	case a32MovX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[sr]))
			return next(s)
		}
	case a32Movsx8:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(int32(int8(r[sr]))))
			return next(s)
		}
	case a32Movsx16:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(int32(int16(r[sr]))))
			return next(s)
		}
	case a32ArshK:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(int32(r[d]) >> uint32(imm)))
			return next(s)
		}
	case a32ArshX:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(int32(r[d]) >> (uint32(r[sr]) & 31)))
			return next(s)
		}
	case a32Le16:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint16(r[d]))
			return next(s)
		}
	case a32Le32:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(uint32(r[d]))
			return next(s)
		}
	case a32Le64:
		return func(s *state) int {

			return next(s)
		}
	case a32Be16:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
			return next(s)
		}
	case a32Be32:
		return func(s *state) int {
			r := &s.regs
			r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
			return next(s)
		}
	case a32Be64:
		return func(s *state) int {
			r := &s.regs
			r[d] = bits.ReverseBytes64(r[d])
			return next(s)
		}
	case opLdxB:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				r[d] = uint64(s.pkt[o])
			} else if v, ok := s.load(a, 1); ok {
				r[d] = v
			} else {
				s.fault = s.loadFault(pc, a, 1)
				return cFault
			}
			return next(s)
		}
	case opLdxH:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				r[d] = le16(s.pkt[o:])
			} else if v, ok := s.load(a, 2); ok {
				r[d] = v
			} else {
				s.fault = s.loadFault(pc, a, 2)
				return cFault
			}
			return next(s)
		}
	case opLdxW:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				r[d] = le32(s.pkt[o:])
			} else if a == mkptr(tagCtx, skbData) {
				r[d] = mkptr(tagPkt, 0) // skb->data, the most common context load
			} else if a == mkptr(tagCtx, skbDataEnd) {
				r[d] = mkptr(tagPkt, uint32(len(s.pkt)))
			} else if v, ok := s.load(a, 4); ok {
				r[d] = v
			} else {
				s.fault = s.loadFault(pc, a, 4)
				return cFault
			}
			return next(s)
		}
	case opLdxDW:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				r[d] = le64(s.pkt[o:])
			} else if v, ok := s.load(a, 8); ok {
				r[d] = v
			} else {
				s.fault = s.loadFault(pc, a, 8)
				return cFault
			}
			return next(s)
		}
	case opLdxSB:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int8(s.pkt[o])))
			} else if v, ok := s.load(a, 1); ok {
				r[d] = uint64(int64(int8(v)))
			} else {
				s.fault = s.loadFault(pc, a, 1)
				return cFault
			}
			return next(s)
		}
	case opLdxSH:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int16(le16(s.pkt[o:]))))
			} else if v, ok := s.load(a, 2); ok {
				r[d] = uint64(int64(int16(v)))
			} else {
				s.fault = s.loadFault(pc, a, 2)
				return cFault
			}
			return next(s)
		}
	case opLdxSW:
		return func(s *state) int {
			r := &s.regs
			a := r[sr] + uint64(off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int32(le32(s.pkt[o:]))))
			} else if v, ok := s.load(a, 4); ok {
				r[d] = uint64(int64(int32(v)))
			} else {
				s.fault = s.loadFault(pc, a, 4)
				return cFault
			}
			return next(s)
		}
	case opLdxFpB:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			r[d] = uint64(s.stack[o])
			return next(s)
		}
	case opLdxFpH:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			r[d] = le16(s.stack[o:])
			return next(s)
		}
	case opLdxFpW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			r[d] = le32(s.stack[o:])
			return next(s)
		}
	case opLdxFpDW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			r[d] = le64(s.stack[o:])
			return next(s)
		}
	case opStB:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := uint64(imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				s.pkt[o] = byte(v)
			} else if !s.store(a, 1, v) {
				s.fault = s.storeFault(pc, a, 1)
				return cFault
			}
			return next(s)
		}
	case opStxB:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				s.pkt[o] = byte(v)
			} else if !s.store(a, 1, v) {
				s.fault = s.storeFault(pc, a, 1)
				return cFault
			}
			return next(s)
		}
	case opStH:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := uint64(imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint16(s.pkt[o:], uint16(v))
			} else if !s.store(a, 2, v) {
				s.fault = s.storeFault(pc, a, 2)
				return cFault
			}
			return next(s)
		}
	case opStxH:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint16(s.pkt[o:], uint16(v))
			} else if !s.store(a, 2, v) {
				s.fault = s.storeFault(pc, a, 2)
				return cFault
			}
			return next(s)
		}
	case opStW:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := uint64(imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint32(s.pkt[o:], uint32(v))
			} else if !s.store(a, 4, v) {
				s.fault = s.storeFault(pc, a, 4)
				return cFault
			}
			return next(s)
		}
	case opStxW:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint32(s.pkt[o:], uint32(v))
			} else if !s.store(a, 4, v) {
				s.fault = s.storeFault(pc, a, 4)
				return cFault
			}
			return next(s)
		}
	case opStDW:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := uint64(imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint64(s.pkt[o:], v)
			} else if !s.store(a, 8, v) {
				s.fault = s.storeFault(pc, a, 8)
				return cFault
			}
			return next(s)
		}
	case opStxDW:
		return func(s *state) int {
			r := &s.regs
			a := r[d] + uint64(off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint64(s.pkt[o:], v)
			} else if !s.store(a, 8, v) {
				s.fault = s.storeFault(pc, a, 8)
				return cFault
			}
			return next(s)
		}
	case opStFpB:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := uint64(imm)
			s.stack[o] = byte(v)
			return next(s)
		}
	case opStxFpB:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := r[sr]
			s.stack[o] = byte(v)
			return next(s)
		}
	case opStFpH:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := uint64(imm)
			binary.LittleEndian.PutUint16(s.stack[o:], uint16(v))
			return next(s)
		}
	case opStxFpH:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := r[sr]
			binary.LittleEndian.PutUint16(s.stack[o:], uint16(v))
			return next(s)
		}
	case opStFpW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := uint64(imm)
			binary.LittleEndian.PutUint32(s.stack[o:], uint32(v))
			return next(s)
		}
	case opStxFpW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := r[sr]
			binary.LittleEndian.PutUint32(s.stack[o:], uint32(v))
			return next(s)
		}
	case opStFpDW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := uint64(imm)
			binary.LittleEndian.PutUint64(s.stack[o:], v)
			return next(s)
		}
	case opStxFpDW:
		return func(s *state) int {
			r := &s.regs
			o := uint32(r[10]) + uint32(off)
			v := r[sr]
			binary.LittleEndian.PutUint64(s.stack[o:], v)
			return next(s)
		}
	}
	return nil
}

// compileCond is the closure of a conditional jump: taken or fall runs
// next.
func compileCond(in *insn, taken, fall cfn) cfn {
	d, sr := in.dst&15, in.src&15
	imm := in.imm
	switch in.op {
	case jEqK:
		return func(s *state) int {
			r := &s.regs
			if r[d] == uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jEqX:
		return func(s *state) int {
			r := &s.regs
			if r[d] == r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jGtK:
		return func(s *state) int {
			r := &s.regs
			if r[d] > uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jGtX:
		return func(s *state) int {
			r := &s.regs
			if r[d] > r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jGeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] >= uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jGeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] >= r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jSetK:
		return func(s *state) int {
			r := &s.regs
			if r[d]&uint64(imm) != 0 {
				return taken(s)
			}
			return fall(s)
		}
	case jSetX:
		return func(s *state) int {
			r := &s.regs
			if r[d]&r[sr] != 0 {
				return taken(s)
			}
			return fall(s)
		}
	case jNeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] != uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jNeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] != r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jSGtK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) > imm {
				return taken(s)
			}
			return fall(s)
		}
	case jSGtX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) > int64(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case jSGeK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) >= imm {
				return taken(s)
			}
			return fall(s)
		}
	case jSGeX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) >= int64(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case jLtK:
		return func(s *state) int {
			r := &s.regs
			if r[d] < uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jLtX:
		return func(s *state) int {
			r := &s.regs
			if r[d] < r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jLeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] <= uint64(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case jLeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] <= r[sr] {
				return taken(s)
			}
			return fall(s)
		}
	case jSLtK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) < imm {
				return taken(s)
			}
			return fall(s)
		}
	case jSLtX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) < int64(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case jSLeK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) <= imm {
				return taken(s)
			}
			return fall(s)
		}
	case jSLeX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) <= int64(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32EqK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) == uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32EqX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) == uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32GtK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) > uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32GtX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) > uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32GeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) >= uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32GeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) >= uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SetK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d])&uint32(imm) != 0 {
				return taken(s)
			}
			return fall(s)
		}
	case j32SetX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d])&uint32(r[sr]) != 0 {
				return taken(s)
			}
			return fall(s)
		}
	case j32NeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) != uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32NeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) != uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SGtK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) > int32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SGtX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) > int32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SGeK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) >= int32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SGeX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) >= int32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32LtK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) < uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32LtX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) < uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32LeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) <= uint32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32LeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) <= uint32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SLtK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) < int32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SLtX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) < int32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SLeK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) <= int32(imm) {
				return taken(s)
			}
			return fall(s)
		}
	case j32SLeX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) <= int32(r[sr]) {
				return taken(s)
			}
			return fall(s)
		}
	}
	return nil
}

// compileCondBack is compileCond for a backward jump to t: taken, it
// counts the loop's dist instructions (s.loop) and returns t to the driver.
func compileCondBack(in *insn, t, dist int, fall cfn) cfn {
	d, sr := in.dst&15, in.src&15
	imm := in.imm
	switch in.op {
	case jEqK:
		return func(s *state) int {
			r := &s.regs
			if r[d] == uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jEqX:
		return func(s *state) int {
			r := &s.regs
			if r[d] == r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jGtK:
		return func(s *state) int {
			r := &s.regs
			if r[d] > uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jGtX:
		return func(s *state) int {
			r := &s.regs
			if r[d] > r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jGeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] >= uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jGeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] >= r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSetK:
		return func(s *state) int {
			r := &s.regs
			if r[d]&uint64(imm) != 0 {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSetX:
		return func(s *state) int {
			r := &s.regs
			if r[d]&r[sr] != 0 {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jNeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] != uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jNeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] != r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSGtK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) > imm {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSGtX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) > int64(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSGeK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) >= imm {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSGeX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) >= int64(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jLtK:
		return func(s *state) int {
			r := &s.regs
			if r[d] < uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jLtX:
		return func(s *state) int {
			r := &s.regs
			if r[d] < r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jLeK:
		return func(s *state) int {
			r := &s.regs
			if r[d] <= uint64(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jLeX:
		return func(s *state) int {
			r := &s.regs
			if r[d] <= r[sr] {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSLtK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) < imm {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSLtX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) < int64(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSLeK:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) <= imm {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case jSLeX:
		return func(s *state) int {
			r := &s.regs
			if int64(r[d]) <= int64(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32EqK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) == uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32EqX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) == uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32GtK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) > uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32GtX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) > uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32GeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) >= uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32GeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) >= uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SetK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d])&uint32(imm) != 0 {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SetX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d])&uint32(r[sr]) != 0 {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32NeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) != uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32NeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) != uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SGtK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) > int32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SGtX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) > int32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SGeK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) >= int32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SGeX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) >= int32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32LtK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) < uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32LtX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) < uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32LeK:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) <= uint32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32LeX:
		return func(s *state) int {
			r := &s.regs
			if uint32(r[d]) <= uint32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SLtK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) < int32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SLtX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) < int32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SLeK:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) <= int32(imm) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	case j32SLeX:
		return func(s *state) int {
			r := &s.regs
			if int32(r[d]) <= int32(r[sr]) {
				return s.loop(t, dist)
			}
			return fall(s)
		}
	}
	return nil
}
