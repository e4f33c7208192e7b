package fqcodel

import (
	"time"

	"netyard/pkt"
)

// CoDel (RFC 8289) as include/net/codel.h and include/net/codel_impl.h
// implement it, including their arithmetic: time is kept in units of
// 1024 ns in a uint32 (codel_time_t) and compared modulo 2^32 (RFC 1982
// serial numbers), 1/sqrt(count) is a Q0.16 fixed-point number refined
// by one Newton step per drop, and the control law multiplies instead of
// dividing. Keeping the kernel's units makes a replay drop and mark the
// same packets the kernel would, rounding included.

// codelShift is CODEL_SHIFT: codel time counts 1024 ns units, so a
// uint32 spans 2199 s of signed comparisons, and ns to codel time is a
// shift rather than a division.
const codelShift = 10

// recInvSqrtShift is REC_INV_SQRT_SHIFT: recInvSqrt keeps the top 16 bits
// of a Q0.32 fraction.
const recInvSqrtShift = 32 - 16

// codelTime converts nanoseconds to codel time (codel_get_time). The
// arithmetic shift keeps the modular order across zero, so a virtual
// clock may start anywhere.
func codelTime(ns int64) uint32 { return uint32(ns >> codelShift) }

// codelDuration converts a codel time interval to a duration truncated to
// microseconds, as codel_time_to_us does for the kernel's dumps.
func codelDuration(t uint32) time.Duration {
	us := (uint64(t) << codelShift) / 1000
	return time.Duration(us) * time.Microsecond
}

func after(a, b uint32) bool   { return int32(a-b) > 0 }
func afterEq(a, b uint32) bool { return int32(a-b) >= 0 }
func before(a, b uint32) bool  { return after(b, a) }

// codelVars is struct codel_vars: one flow's CoDel state.
type codelVars struct {
	count     uint32 // drops since entering the dropping state
	lastcount uint32 // count when the dropping state was last entered
	dropping  bool
	// recInvSqrt is 1/sqrt(count) in Q0.16.
	recInvSqrt uint16
	// firstAboveTime is when the sojourn time will have been above
	// target for an interval; 0 when it is below.
	firstAboveTime uint32
	// dropNext is the time of the next drop in the dropping state.
	dropNext uint32
	// ldelay is the sojourn time of the last dequeued packet.
	ldelay uint32
}

// newtonStep is codel_Newton_step: one Newton iteration of
// invsqrt' = invsqrt * (3 - count * invsqrt^2) / 2 in fixed point.
// The kernel runs one step per increment of count; the estimate trails
// 1/sqrt(count) for the first few drops and then tracks it within a
// fraction of a percent (TestNewtonStep).
func (v *codelVars) newtonStep() {
	invsqrt := uint32(v.recInvSqrt) << recInvSqrtShift
	invsqrt2 := uint32(uint64(invsqrt) * uint64(invsqrt) >> 32)
	val := (uint64(3) << 32) - uint64(v.count)*uint64(invsqrt2)
	val >>= 2 // avoids overflow in the multiply below
	val = (val * uint64(invsqrt)) >> (32 - 2 + 1)
	v.recInvSqrt = uint16(val >> recInvSqrtShift)
}

// controlLaw is codel_control_law: t + interval/sqrt(count), with the
// division done as reciprocal_scale by the stored reciprocal.
func controlLaw(t, interval uint32, recInvSqrt uint16) uint32 {
	return t + uint32(uint64(interval)*uint64(uint32(recInvSqrt)<<recInvSqrtShift)>>32)
}

// setCE is INET_ECN_set_ce: pkt.Buffer.SetCE (shared with netem's ecn).
func setCE(p *pkt.Buffer) bool { return p.SetCE() }
