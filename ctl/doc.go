// Package ctl is netyard's control and dump protocol: netlink messages
// (struct nlmsghdr and attributes, encoded as the kernel encodes them, in
// host byte order) over a unix stream socket. `netyard daemon` serves it
// (Server); `netyard tc` talks to it (Client).
//
// Two kinds of request exist. An exec request carries a tc command line as
// words and is answered with the command's output and error; the daemon's
// Handler runs it (tcsyntax). A dump request asks for one table of objects
// (actions of a kind, filters, qdiscs, classes: whatever a Dumper was
// registered for) and is answered with a multi-part stream, as the kernel's
// netlink_dump answers RTM_GETACTION with NLM_F_DUMP.
//
// # Why not the kernel's dump
//
// net/sched/act_api.c's tcf_dump_walker resumes each batch by position:
// cb->args[0] counts entries, and every batch walks the IDR from its first
// entry, skipping the ones already sent. A full dump is quadratic in the
// table size (about 117 s for 1,000,000 actions), and a deletion between
// two batches shifts the positions so that an entry is skipped. Its "since
// MSECS" filter (TCA_ROOT_TIME_DELTA) still visits every entry, and an
// action dump never sets NLM_F_DUMP_INTR.
//
// netyard differs on purpose in four ways:
//   - The cursor is the last object's key, not a position. Each batch is a
//     new walk (locks are dropped between batches, as the kernel drops them
//     between netlink_dump calls) that starts after that key: a seek, not a
//     walk from the start, and no object that exists throughout a dump can
//     be skipped or repeated, whatever is added or deleted meanwhile.
//   - Every object carries the generation of its last change and every dump
//     ends with the generation to ask for next time ("since" a generation),
//     so a client can fetch only what changed, and no change is missed
//     however long a dump takes (changes made during a dump are reported
//     again by the next one).
//   - Every message carries the table's structural generation (bumped on
//     every add and delete); when it moved during a dump, messages from then
//     on and the final NLMSG_DONE carry NLM_F_DUMP_INTR, as
//     nl_dump_check_consistent (include/net/netlink.h) does for routes.
//   - The client chooses the message size, from 32 KiB up to 1 MiB; the
//     kernel caps dump messages at 32 KiB (netlink_recvmsg's
//     max_recvmsg_len), which for actions is about 184 per message with
//     TCA_FLAG_LARGE_DUMP_ON and 32 (TCA_ACT_MAX_PRIO) without it.
//
// # Transport
//
// A unix SOCK_STREAM socket (Listen creates it, mode 0600 by default).
// Netlink messages are self-delimiting by nlmsg_len, so a stream carries
// them back to back, each padded to 4 bytes (NLMSG_ALIGN). Reader reads one
// at a time and refuses a length below the 16-byte header or above its
// limit without allocating from the length field; a framing error ends the
// connection, since a stream cannot be resynchronised.
//
// # Message types
//
//	type            value  flags                        direction, payload
//	NLMSG_NOOP      0x01   REQUEST                      client: a ping; answered with an ack
//	NLMSG_ERROR     0x02   [CAPPED] [ACK_TLVS]          server: the request was refused (struct nlmsgerr:
//	                                                    int32 -errno, the request's nlmsghdr, its payload
//	                                                    unless CAPPED, then AttrErrMsg); errno 0 is an ack
//	NLMSG_DONE      0x03   MULTI [DUMP_INTR] [ACK_TLVS] server: the end of a reply: int32 -errno, then
//	                                                    attributes (AttrErrMsg; for dumps AttrTotal,
//	                                                    AttrStructGen, AttrNextGen)
//	MsgExec         0x10   REQUEST                      client: AttrWord..., AttrStdin...
//	MsgOutput       0x11   MULTI                        server: AttrStdout and AttrStderr chunks, in order
//	MsgDump         0x12   REQUEST|DUMP (0x301)         client: AttrKind, AttrSelect..., AttrMaxMsg,
//	                                                    AttrDumpFlags, AttrTimeDelta, AttrSince, AttrAfter
//	MsgObjects      0x13   MULTI [DUMP_INTR]            server: AttrCount, AttrStructGen, AttrObject...
//
// Every request is answered by replies with its nlmsg_seq and nlmsg_pid,
// ending in exactly one NLMSG_DONE (the request ran; its errno says how it
// ended) or one NLMSG_ERROR (it was refused before it ran). The NLMSG_ERROR
// and NLMSG_DONE layouts are the kernel's netlink_ack and
// netlink_dump_done layouts, so a generic netlink library (libmnl,
// github.com/mdlayher/netlink) reads their errno and message.
//
// # Attributes
//
// One numbering for the whole protocol; each attribute is valid only in the
// messages listed. Requests are validated strictly: an unknown attribute,
// or one of the wrong size, refuses the request with EINVAL (as the
// kernel's NL_VALIDATE_STRICT). Replies are read leniently: a client skips
// attributes it does not know, so a newer daemon can add some.
//
//	attribute      nr  type    in               meaning
//	AttrErrMsg      1  string  ERROR, DONE      error text (= NLMSGERR_ATTR_MSG, so extack readers see it)
//	AttrErrOffs     2  u32     -                reserved (= NLMSGERR_ATTR_OFFS); never sent
//	AttrWord        3  string  Exec             one word of the command line, repeated, in order
//	AttrStdin       4  bytes   Exec             the command's standard input, repeated chunks, in order
//	AttrStdout      5  bytes   Output           a chunk of standard output
//	AttrStderr      6  bytes   Output           a chunk of standard error
//	AttrKind        7  string  Dump             the table: "action/gact", "filter", ... (required)
//	AttrSelect      8  string  Dump             a selector word for the Dumper ("dev", "eth0"), repeated
//	AttrMaxMsg      9  u32     Dump             largest reply the client reads: 32 KiB..1 MiB (default 32 KiB)
//	AttrDumpFlags  10  u32     Dump             DumpFlagLargeDump | DumpFlagTerse (TCA_ROOT_FLAGS' bits)
//	AttrTimeDelta  11  u32     Dump             msecs: only objects used in the last msecs (TCA_ROOT_TIME_DELTA)
//	AttrSince      12  u64     Dump             only objects changed after this generation (0: all)
//	AttrAfter      13  bytes   Dump             resume: only objects whose key sorts after this one
//	AttrCount      14  u32     Objects          objects in this message (TCA_ROOT_COUNT)
//	AttrTotal      15  u64     DONE             objects in the whole dump
//	AttrStructGen  16  u64     Objects, DONE    the table's structural generation
//	AttrNextGen    17  u64     DONE             the generation to send as AttrSince next time
//	AttrObject     18  nested  Objects          one object (NLA_F_NESTED), repeated:
//	  ObjKey        1  bytes                      its key; keys sort bytewise, strictly increasing
//	  ObjGen        2  u64                        the generation of its last change
//	  ObjData       3  nested                     its attributes, encoded by the Dumper (NLA_F_NESTED)
//	AttrBatch      19  u64     Exec             the batch this chunk belongs to (unique per connection)
//	AttrBatchLine  20  u32     Exec             the chunk's first line in the whole batch file
//	AttrBatchFlags 21  u32     Exec             BatchFlagForce (tc's -force)
//	AttrBatchApplied 22 u32    DONE             commands of the chunk applied
//	AttrBatchFailed  23 u32    DONE             commands of the chunk that failed
//	AttrBatchStop    24 u32    DONE             the line that stopped the batch (0: none)
//	AttrExitStatus   25 u32    DONE             with an error: the exit status the command's tool gives
//	                                            (tc: 255 unparsable, 2 refused, 1 other; Error.Status);
//	                                            absent from older daemons, ignored by older clients
//
// Objects are repeated top-level attributes rather than entries of one
// nest (the kernel's TCA_ACT_TAB) because a nest's nla_len is 16 bits: one
// nest cannot span a message of up to 1 MiB.
//
// # Batches
//
// A batch file of any size travels as a sequence of exec requests on one
// connection, each with the words of the command line ("-b -"), one chunk
// of whole commands as AttrStdin (Client.ExecBatch: at most MaxBatchChunk
// bytes, a quarter of the request limit), and AttrBatch, AttrBatchLine and
// AttrBatchFlags. The daemon runs each chunk as it arrives with line
// numbers counted from AttrBatchLine, and ends its reply with an
// NLMSG_DONE carrying the chunk's AttrBatchApplied, AttrBatchFailed and
// AttrBatchStop. The client keeps up to four chunks in flight (a writer
// sends while the reader reads the replies), so the round trip is not paid
// per chunk. Error semantics stay exact because a connection's requests
// run one after the other: when a chunk fails without BatchFlagForce, the
// session remembers its AttrBatch, and every later chunk of that batch is
// answered with NLMSG_DONE ECANCELED without running; the client stops
// sending and reads the replies to what it had sent. So nothing after the
// failing line is applied, and the sum of AttrBatchApplied is the number
// of commands applied before it.
//
// Numbers 3 to 6 never appear in NLMSG_DONE or NLMSG_ERROR, where a generic
// netlink library would read them as NLMSGERR_ATTR_COOKIE, _POLICY,
// _MISS_TYPE and _MISS_NEST.
package ctl
