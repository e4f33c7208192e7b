package netem

// rndState is the kernel's struct rnd_state and prandom_u32_state
// (lib/random32.c): L'Ecuyer's maximally equidistributed combined
// Tausworthe generator, lfsr113, the generator netem draws every loss,
// duplication, reordering, corruption and delay decision from since
// Linux 6.6 (TCA_NETEM_PRNG_SEED). Seeded as prandom_seed_state seeds it,
// the same seed gives the kernel's sequence: a seeded netyard netem draws
// the numbers the kernel's netem draws for the same seed, in the same
// order (see aux in netem.go for the draws the kernel takes from its
// unseeded generator instead).
type rndState struct{ s1, s2, s3, s4 uint32 }

// seedMin is __seed: the restriction of the erratum to L'Ecuyer's paper,
// s1 > 1, s2 > 7, s3 > 15, s4 > 127.
func seedMin(x, m uint32) uint32 {
	if x < m {
		return x + m
	}
	return x
}

// seed is prandom_seed_state (include/linux/prandom.h): the four words
// from one 32-bit fold of the 64-bit seed, with no warm-up.
func (s *rndState) seed(seed uint64) {
	i := uint32((seed >> 32) ^ (seed << 10) ^ seed)
	s.s1 = seedMin(i, 2)
	s.s2 = seedMin(i, 8)
	s.s3 = seedMin(i, 16)
	s.s4 = seedMin(i, 128)
}

// u32 is prandom_u32_state.
func (s *rndState) u32() uint32 {
	s.s1 = ((s.s1 & 4294967294) << 18) ^ (((s.s1 << 6) ^ s.s1) >> 13)
	s.s2 = ((s.s2 & 4294967288) << 2) ^ (((s.s2 << 2) ^ s.s2) >> 27)
	s.s3 = ((s.s3 & 4294967280) << 7) ^ (((s.s3 << 13) ^ s.s3) >> 21)
	s.s4 = ((s.s4 & 4294967168) << 13) ^ (((s.s4 << 3) ^ s.s4) >> 12)
	return s.s1 ^ s.s2 ^ s.s3 ^ s.s4
}

// below returns a number in [0, n), n > 0, as get_random_u32_below's
// multiply-and-shift does (without its rejection step: the bias is below
// n/2^32, and these draws are netyard's own anyway).
func (s *rndState) below(n uint32) uint32 {
	return uint32(uint64(s.u32()) * uint64(n) >> 32)
}

// crnd is struct crndstate: the last value and the correlation of one
// correlated random sequence.
type crnd struct {
	last uint32
	rho  uint32
}

// get is get_crandom: with rho 0 the generator's next number; otherwise
// the weighted mean of it and the last value, (value*(2^32-rho') +
// last*rho') >> 32 with rho' = rho+1, in 64-bit arithmetic as the kernel
// computes it. (This is the kernel's formula as it stands; its effect is
// a sequence whose successive values are correlated by about rho, and
// whose spread narrows as rho grows, so a correlated "loss 1% 25%" loses
// fewer than 1%: tc-netem(8) warns of it. netyard keeps the formula so
// that the numbers are the kernel's.)
func (c *crnd) get(s *rndState) uint32 {
	if c.rho == 0 {
		return s.u32()
	}
	value := uint64(s.u32())
	rho := uint64(c.rho) + 1
	answer := (value*((1<<32)-rho) + uint64(c.last)*rho) >> 32
	c.last = uint32(answer)
	return uint32(answer)
}
