// Package act holds tc's actions: their configuration (Spec), the running
// actions New makes from it (gact, mirred, vlan, skbedit, police, mirroring
// net/sched/act_*.c), the per-namespace table that numbers and shares them
// (Table, as act_api.c's idr per kind), and Exec, which runs a filter's
// action list as tcf_action_exec does.
//
// Packet ownership across an action list: an action that returns Consumed
// has taken the packet (mirred handed it to a device's backlog) and nothing
// after it may touch the packet; for any other verdict the caller keeps it
// and releases it for Shot, Stolen, Queued and Trap.
//
// Data path and control plane meet at the Action: filters hold Action
// values and call Exec with no lock; each action keeps its parameters
// behind one atomic pointer, so that "tc actions replace" takes effect for
// every filter bound to it at once, with its counters kept, as the kernel's
// RCU-swapped params do. Exec never allocates (see TestExecAllocs and
// cls.BenchmarkClassifyFlower).
package act
