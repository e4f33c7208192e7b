package act

import (
	"fmt"
	"strconv"
	"strings"
)

// Verdict is a TC_ACT_* value, as in include/uapi/linux/pkt_cls.h, with the
// same numbers so that JSON and logs read like the kernel's.
type Verdict int32

const (
	Unspec     Verdict = -1 // "continue": go on with the next filter
	OK         Verdict = 0  // "pass": accept the packet, stop classifying
	Reclassify Verdict = 1  // restart classification at chain 0
	Shot       Verdict = 2  // "drop"
	Pipe       Verdict = 3  // go on with the next action
	Stolen     Verdict = 4  // consumed by the action (redirect)
	Queued     Verdict = 5
	Repeat     Verdict = 6
	Redirect   Verdict = 7 // the packet was redirected (bpf_redirect)
	Trap       Verdict = 8
	// Consumed is the kernel's internal TC_ACT_CONSUMED: an action (mirred
	// redirect with the default "stolen" control) has taken the packet
	// itself, and the caller must neither use nor release it. Every other
	// verdict leaves the packet with the caller; for Stolen, Queued and
	// Trap the caller releases it (consume_skb), as sch_handle_ingress does.
	Consumed Verdict = 9

	extShift = 28
	extMask  = 1<<extShift - 1
	// jumpOp and gotoChainOp are TC_ACT_JUMP and TC_ACT_GOTO_CHAIN:
	// opcodes in the top bits with an operand in the low 28.
	jumpOp      Verdict = 1 << extShift
	gotoChainOp Verdict = 2 << extShift
)

// GotoChain is the verdict "goto chain n".
func GotoChain(n uint32) Verdict { return gotoChainOp | Verdict(n&extMask) }

// Jump is the verdict "jump n": skip the next n actions of this filter.
func Jump(n uint32) Verdict { return jumpOp | Verdict(n&extMask) }

// Chain returns the target of a goto-chain verdict.
func (v Verdict) Chain() (uint32, bool) {
	if v >= 0 && v&^extMask == gotoChainOp {
		return uint32(v & extMask), true
	}
	return 0, false
}

// JumpCount returns the operand of a jump verdict.
func (v Verdict) JumpCount() (uint32, bool) {
	if v >= 0 && v&^extMask == jumpOp {
		return uint32(v & extMask), true
	}
	return 0, false
}

// String is the name tc prints for the verdict (iproute2's action_n2a).
func (v Verdict) String() string {
	switch v {
	case Unspec:
		return "continue"
	case OK:
		return "pass"
	case Reclassify:
		return "reclassify"
	case Shot:
		return "drop"
	case Pipe:
		return "pipe"
	case Stolen:
		return "stolen"
	case Queued:
		return "queued"
	case Repeat:
		return "repeat"
	case Redirect:
		return "redirect"
	case Trap:
		return "trap"
	case Consumed:
		return "consumed"
	}
	if n, ok := v.Chain(); ok {
		return "goto chain " + strconv.FormatUint(uint64(n), 10)
	}
	if n, ok := v.JumpCount(); ok {
		return "jump " + strconv.FormatUint(uint64(n), 10)
	}
	return fmt.Sprintf("%d", int32(v))
}

// ParseVerdict reads a verdict word as tc's action_a2n does ("ok" and
// "pass", "drop" and "shot" are synonyms). "goto chain N" and "jump N" take
// their operand from the following words; ParseVerdict returns how many
// words it used.
func ParseVerdict(words []string) (Verdict, int, error) {
	if len(words) == 0 {
		return 0, 0, fmt.Errorf("expected a verdict (pass, drop, pipe, continue, reclassify, stolen, trap, goto chain N, jump N)")
	}
	switch strings.ToLower(words[0]) {
	case "continue":
		return Unspec, 1, nil
	case "ok", "pass":
		return OK, 1, nil
	case "reclassify":
		return Reclassify, 1, nil
	case "drop", "shot":
		return Shot, 1, nil
	case "pipe":
		return Pipe, 1, nil
	case "stolen":
		return Stolen, 1, nil
	case "trap":
		return Trap, 1, nil
	case "goto":
		if len(words) < 3 || words[1] != "chain" {
			return 0, 0, fmt.Errorf("%q: expected \"goto chain N\"", strings.Join(words[:min(len(words), 3)], " "))
		}
		n, err := strconv.ParseUint(words[2], 10, 32)
		if err != nil || n > extMask {
			return 0, 0, fmt.Errorf("goto chain %q: expected a chain index 0..%d", words[2], extMask)
		}
		return GotoChain(uint32(n)), 3, nil
	case "jump":
		if len(words) < 2 {
			return 0, 0, fmt.Errorf("jump: expected a count")
		}
		n, err := strconv.ParseUint(words[1], 10, 32)
		if err != nil || n == 0 || n > extMask {
			return 0, 0, fmt.Errorf("jump %q: expected a count 1..%d", words[1], extMask)
		}
		return Jump(uint32(n)), 2, nil
	}
	return 0, 0, fmt.Errorf("%q: expected a verdict (pass, drop, pipe, continue, reclassify, stolen, trap, goto chain N, jump N)", words[0])
}
