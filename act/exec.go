package act

import "netyard/pkt"

// MaxActions is TCA_ACT_MAX_PRIO: a filter holds at most 32 actions, and a
// list may take at most that many jumps before it is cut short.
const MaxActions = 32

// jumpMask is TCA_ACT_MAX_PRIO_MASK: tcf_action_exec reads a jump's count
// from the low nine bits of the verdict.
const jumpMask = 0x1ff

// repeatLimit is how often tcf_action_exec runs an action that keeps
// answering TC_ACT_REPEAT before it stops the list ("TC_ACT_REPEAT abuse").
const repeatLimit = 32

// Exec runs a filter's actions on p and returns the list's verdict, as
// tcf_action_exec (net/sched/act_api.c) does:
//
//   - Pipe goes on with the next action; any other verdict ends the list
//     and is the list's verdict. A list that ends in Pipe returns Pipe,
//     which every hook treats as pass. An empty list returns OK.
//   - "jump N" restarts the list and skips its first N actions, so the
//     next action run is the N-th (counting from 0) whichever action
//     jumped. This is the kernel's reading, not a relative skip. A count
//     of 0 or beyond the list stops it with OK, and so does the 32nd jump
//     (a loop of jumps). A jump to exactly the end runs nothing more and
//     the list returns OK (the kernel returns the jump opcode itself,
//     which its callers treat as pass).
//   - "goto chain N" ends the list with that verdict; the caller, which
//     knows the chains, does the goto.
//
// After Consumed the packet is gone; Exec stops at once, as for any
// verdict but Pipe. Redirect never leaves an action list: a bpf action
// carries out its program's redirect itself (BPFRedirect), and no
// configuration can make another action's verdict Redirect
// (checkControl).
func Exec(c *Ctx, p *pkt.Buffer, actions []Action) Verdict {
	v := OK
	skip := uint32(0)
	jumps := MaxActions
restart:
	for i := 0; i < len(actions); i++ {
		if skip > 0 {
			skip--
			continue
		}
		a := actions[i]
		v = a.Exec(c, p)
		for n := repeatLimit; v == Repeat; {
			if n--; n == 0 {
				return OK
			}
			v = a.Exec(c, p)
		}
		if n, ok := v.JumpCount(); ok {
			n &= jumpMask
			if n == 0 || int(n) > len(actions) {
				return OK
			}
			if jumps--; jumps == 0 {
				return OK
			}
			skip = n
			goto restart
		}
		if v != Pipe {
			break
		}
	}
	if _, ok := v.JumpCount(); ok {
		return OK
	}
	return v
}
