#include "textflag.h"

// func jitcall(entry uintptr, s unsafe.Pointer) uint64
//
// Calls the machine code at entry with the run's state in DI. The code
// saves and restores every register Go or the SysV convention keeps
// (BX, BP, R12-R15), so to Go this is a call that clobbers AX..R11. Not
// NOSPLIT: the prologue's stack check leaves the guard's room (hundreds
// of bytes) below this frame for the code's return address and the six
// registers it pushes.
TEXT ·jitcall(SB), 0, $8-24
	MOVQ entry+0(FP), AX
	MOVQ s+8(FP), DI
	CALL AX
	MOVQ AX, ret+16(FP)
	RET
