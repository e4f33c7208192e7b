// Package link attaches netyard devices to real Linux interfaces: the
// backends that move frames between a netdev.Device and the kernel.
//
//	dev add eth0 type afpacket link veth-m0 [queues N]   AF_PACKET on an existing interface
//	dev add eth0 type xdp link veth-m0 [queues N] [mode native|generic] [zerocopy]
//	                                                     AF_XDP on an existing interface
//	dev add tap0 type tap [queues N]                     a TAP device netyard creates
//
// Open sets up the sockets or files and makes the backend the device's
// TxPort (the datapath's Transmit and Flush land in it); Start starts one
// receive goroutine per queue, which copies frames into pool buffers and
// hands them to the device (netdev.Device.Receive), or, polled, wakes the
// device's worker to read the ring itself; Close undoes it all. An AF_XDP
// port is also a netdev.RxCoalescer (its worker defers its park after
// taking frames, so that frames arriving one by one share a wake-up) and a
// netdev.QueuePoller (with several workers, queue q is polled and woken
// for by a worker of its own).
// On systems other than Linux, Open returns ErrNotSupported.
//
// # AF_PACKET: why TPACKET_V3
//
// The receive side is a TPACKET_V3 memory-mapped ring
// (Documentation/networking/packet_mmap.rst, net/packet/af_packet.c). V3
// is block-based: the kernel packs frames of any size one after another
// in a block and wakes the reader once per block, when the block is full
// or its retire timer fires. Against the alternatives:
//
//   - recvmmsg costs a system call and a copy per batch, and the batch
//     is capped by the vector the caller preallocates.
//   - TPACKET_V2 has fixed slots (2 KiB for a 1500 MTU: a 64-byte frame
//     wastes 95% of its slot) and wakes the reader per frame.
//   - TPACKET_V3 holds a 64-byte frame in 160 bytes (48-byte header,
//     sockaddr_ll, alignment) and costs one wake-up per block: at line
//     rate, one per ~800 small frames.
//
// The price is latency at low rates: a frame waits until its block
// retires, at most the retire timeout (tp_retire_blk_tov).
//
// The transmit side is a memory-mapped TX ring on the same socket:
// Transmit copies the frame into the next free slot and marks it
// TP_STATUS_SEND_REQUEST, Flush kicks the kernel with one
// sendto(MSG_DONTWAIT) per batch. V3 TX rings exist from Linux 4.11; on
// older kernels the TX ring is TPACKET_V2 on a second socket, bound with
// protocol 0 so it receives nothing. PACKET_QDISC_BYPASS is on (netyard is
// the qdisc; the link's own would only add a lock and a queue),
// PACKET_LOSS is on (a malformed frame is skipped, not a ring stalled in
// TP_STATUS_WRONG_FORMAT), and Transmit itself refuses what packet_snd
// would (see txFits) so that every drop is counted.
//
// With PACKET_VNET_HDR (the default) each slot's virtio_net_hdr says
// hdr_len = the whole frame for an ordinary frame, so tpacket_snd copies
// it into the skb's linear part. Otherwise the kernel copies only the
// Ethernet header and attaches the rest as a fragment of the ring's page,
// marked zero-copy; a veth (any device that queues the skb on) must then
// copy that fragment into a page of its own, one page allocated per
// 60-byte frame (skb_copy_ubufs). BenchmarkAFPacketForward/linear against
// /frags: 1.2-1.3 against 1.4-1.6 µs of CPU a frame, one veth hop.
// sendmmsg from netyard's buffers instead of the ring (packet_snd, a
// linear skb and no copy into a slot) was tried and cost more: 1.8-2.2
// µs a frame, the per-message work of sendmsg being larger than the copy
// it saves.
//
// The kernel sends a TX ring in order and stops at a frame the device
// refuses (a veth peer that is down, has a smaller MTU or a full backlog:
// ENOBUFS), leaving it marked. So a Flush that leaves frames marked has a
// retry goroutine kick the queue again a millisecond later, and a frame
// still at the kernel's position after three Flushes is given up (its
// length made invalid, which PACKET_LOSS skips) and counted as dropped:
// one frame that can never go does not hold the queue, and the tail of a
// burst does not wait for the next transmission. While the link itself
// is down nothing is sent; what is queued then goes when it is back.
//
// # Ring sizing
//
//   - RX: 64 blocks of 32 KiB = 2 MiB per queue (blocks double until one
//     holds the link's longest frame, at least 16 of them), retire
//     timeout 2 ms. A block holds ~200 frames of 64 bytes or ~20 of
//     1514; the ring ~13000 small or ~1300 full-size frames, above the
//     kernel's netdev_max_backlog of 1000, so a burst the kernel would
//     have queued fits. At low rates blocks retire part-full on the
//     timeout, so the ring's depth in time is 64 x 2 ms = 128 ms of a
//     reader that does not run, whatever the rate below ~100k pps (16
//     blocks of 128 KiB gave 32 ms). 2 ms bounds the added latency when
//     idle (a ping round trip through netyard crosses two rings: < 4 ms
//     added) for 500 timer wake-ups a second per queue; under load,
//     blocks retire full long before.
//   - TX: 512 slots of 2 KiB = 1 MiB per queue (slots grow to a power of
//     two above MTU+18+header for jumbo MTUs, the ring capped at 4 MiB).
//     512 is eight datapath batches of 64: a slot comes back only when
//     the kernel frees its skb (tpacket_destruct_skb), so the ring must
//     cover the frames still in flight. A full ring drops and counts,
//     it never blocks the worker.
//   - SO_SNDBUF 4 MiB (SO_SNDBUFFORCE): in-flight TX skbs are charged
//     to it, and a full one would end a kick early.
//
// Memory per queue is ~3 MiB of kernel pages: a 256-queue port would pin
// 768 MiB. Ask for the queues the cores can serve.
//
// # Queues
//
// A port has N queues (Spec.Queues, default the device's TxQueues). For
// AF_PACKET each queue is one socket with its own rings; with N > 1 the
// sockets join one PACKET_FANOUT group in PACKET_FANOUT_HASH mode, so the
// kernel sends each flow to one socket (order within a flow is kept) and
// each receive goroutine serves a share. The datapath's TX queue q
// transmits on socket q; a device with more TX queues than the port
// (SetTxQueues after Open) wraps modulo N. For TAP each queue is one file
// of an IFF_MULTI_QUEUE device: the kernel picks the file for the frames
// it sends (by flow hash), and netyard's TX queue q writes to file q.
//
// # Frames as on the wire
//
// The kernel strips a received frame's outer VLAN tag before the packet
// taps see it (skb_vlan_untag in __netif_receive_skb_core) and reports it
// in tp_vlan_tci/tp_vlan_tpid. The backend puts it back while copying,
// keyed on TP_STATUS_VLAN_VALID, not on the TCI: a priority tag with VID
// 0 and PCP 0 has a TCI of 0 and must still reach netyard's VLAN 0 rule.
//
// A frame the link's own stack sent with checksum offload (any local
// sender on a veth) arrives with TP_STATUS_CSUMNOTREADY: its TCP or UDP
// checksum field holds only the pseudo-header sum. The backend completes
// it, as skb_checksum_help would before a device without offload, or the
// frame's final receiver drops it (completeChecksum).
//
// # Offloads (GSO, partial checksums)
//
// The sockets have PACKET_VNET_HDR: every received frame comes with a
// struct virtio_net_hdr in front of it in the ring (at tp_mac - 10,
// tpacket_rcv), and the kernel hands a GSO super-frame (a local TCP
// sender's up to 64 KiB, with TSO/GSO on, a veth's default) over whole
// instead of a frame too long for the ring: RX blocks are sized for
// pkt.GSODataSize. parseVnetHdr puts gso_type, gso_size, csum_start and
// csum_offset on the buffer's pkt.Meta (a big buffer from the pool,
// Pool.GetBig); a partial checksum on an ordinary frame is finished at
// once from the offsets (completeAt), so only GSO frames keep offload
// state. Counters count a GSO frame as its segments (Buffer.WireLen, the
// kernel's gso_segs and qdisc_pkt_len).
//
// On transmit every TX ring frame starts with a virtio_net_hdr too
// (tpacket_snd reads it there); a frame longer than a slot (a GSO frame)
// goes through a second socket of the queue, with PACKET_VNET_HDR and no
// ring (a socket with a TX ring sends only from it), after the ring is
// kicked so that the order holds. The kernel segments it, or hands it to
// a device that takes it whole (a veth). Other ports (TAP without a vnet
// header, AF_XDP, a pcap sink) are not netdev.GSOPorts: the device cuts
// the frame itself (pkt.Segmenter, compared byte for byte with the
// kernel's own segmentation in TestSegmenterAgainstKernel).
//
// # Polled receive (NAPI)
//
// With Options.Polled (the daemon sets it) an AF_PACKET or AF_XDP port is
// its device's netdev.RxPoller: the datapath worker that owns the device
// reads the TPACKET ring (or the AF_XDP RX ring, whose UMEM chunks go
// straight back on the fill ring) itself, at most a budget of frames per
// round, and gives each block back to the kernel as soon as it has copied
// its last frame. The receive goroutine then only waits for a retired
// block (or a non-empty RX ring), wakes the
// worker (Device.Notify) and waits again only once the worker has found
// the ring empty, as NAPI masks a NIC's interrupt until its poll runs dry.
// So a frame the worker has no time for is never copied: it waits in the
// kernel's ring, and when that is full the kernel drops it (tp_drops;
// for AF_XDP rx_ring_full, at the redirect in the receiving NAPI poll:
// RxKernelDrops) before netyard spends anything on it. Without Polled a
// receive goroutine per queue copies every frame onto the device's RX
// ring, and under overload it kept copying frames the worker then could
// not take: most of the CPU went to frames dropped at the full ring
// (receive livelock; docs/PERFORMANCE.md has the profile).
//
// Receive goroutines wait in the Go runtime's poller (epoll on the socket
// or tun file, woken by the kernel's sk_data_ready when a block retires):
// no OS thread is held per queue, and Close wakes them by closing the
// files, so it returns at once. AF_XDP in polled mode is the exception:
// its receive goroutine waits in a poll(2) of its own (an OS thread per
// queue while the worker is away), beside an eventfd that Close makes
// readable, because an epoll registration stays on the socket's wait
// queue for good, and the kernel takes that queue's lock to wake it at
// every XDP flush, in the sending CPU's NAPI poll, whether anyone waits
// or not (xdp_linux.go, waitRx).
//
// # Load shedding (AF_PACKET)
//
// shed_linux.go. Behind RPS (or on a NIC whose interrupts land on
// netyard's CPU) the kernel spends 0.5-1.9 us of netyard's CPU on every
// frame it offers an AF_PACKET socket, in softirq, ahead of the worker,
// and as much again for a frame the full ring then drops: an overloaded
// netyard delivered 0.35 of its capacity at 3x. An afpacket port
// therefore has an XDP program (assembled with cilium/ebpf, like the xdp
// backend's) that drops a share of the frames that a one-element array
// map gives (a drop level, against bpf_get_prandom_u32); netyard maps
// that array (BPF_F_MMAPABLE) and the reader of each queue's ring sets
// it after each read: RED's ramp on the ring's unread blocks, nothing
// dropped up to three quarters of the ring, every frame from all but two
// blocks, so that the admitted rate settles where the worker keeps up
// (the frames the kernel still hands over are frames it will forward).
// Native XDP runs in the driver's NAPI poll,
// for a veth on the sender's CPU, before RPS: a shed frame costs
// netyard's CPU nothing. Generic XDP (drivers without the hook) runs
// after RPS and saves the taps and the ring only.
//
// The program is attached only while a queue sheds and for 2 s after
// (the port's shed goroutine, which enters the link's network namespace
// to attach), because native XDP on a veth has a price while it is
// there: the peer loses software GSO (veth_xdp_set) and veth copies each
// frame into a page before running the program. Open attaches it once
// and detaches it, to find the hook and to report a link that cannot
// have it: then the port works without (logged; `shed on` makes it an
// error, `shed off` skips it). Drops are counted per CPU by the program:
// Stats.RxShed.
//
// # AF_XDP
//
// xdp_linux.go. An XDP program of five instructions, assembled at Open
// with cilium/ebpf (no C compiler, no object file), redirects each frame
// to the AF_XDP socket of the queue it arrived on through an XSKMAP
// (bpf_redirect_map(xsks, ctx->rx_queue_index, XDP_PASS): a queue with
// no socket passes to the stack). It is attached as a bpf_link, which
// the kernel detaches when its descriptor closes, at Close or when the
// process dies: no program outlives netyard. mode native attaches at the
// driver's hook, generic at the stack's (every driver); without mode
// Open tries native, then generic. An explicit mode, and zerocopy, are
// not traded for something else: Open fails and says why.
//
// One UMEM (an anonymous mapping the kernel pins) is registered on queue
// 0's socket and shared by the others (XDP_SHARED_UMEM, each with its own
// fill and completion ring, as the kernel requires on other queue ids).
// Each queue owns a region of it: 16384 receive frames that circulate
// fill ring -> kernel -> RX ring -> back to the fill ring, and 1024
// transmit frames that circulate free stack -> TX ring -> kernel ->
// completion ring -> free stack. Frames are 2 KiB, or 4 KiB when the
// link's MTU needs it (the kernel keeps XDP_PACKET_HEADROOM, 256 bytes,
// in front of received data): 34 MiB of pinned memory per queue at
// 2 KiB (16384 frames hold 80 ms of 200k pps while the receive goroutine
// is kept off the CPU, as AF_PACKET's ring does; OVS has as many). A
// link whose frames do not fit 4 KiB (MTU above 3818) falls back to
// afpacket: AF_XDP's multi-buffer mode is not used.
//
// The receive goroutine copies each frame into a pool buffer and puts
// its UMEM frame straight back on the fill ring, one ring update per
// batch. It does not hand the UMEM frame itself to the datapath: a
// pkt.Buffer owns its memory (headroom for pushed tags, Clone, the
// pool's accounting and recycling), and a frame held by a qdisc or a
// mirror for long would starve the fill ring; the copy of 64–1500 bytes
// is small beside the rest of a packet's way. Transmit copies into a
// free transmit frame and writes a descriptor; Flush publishes the batch
// and calls sendto only when the kernel sets need_wakeup on the TX ring
// (XDP_USE_NEED_WAKEUP). In copy mode the kernel transmits inside that
// call, so it always asks, as AF_PACKET's kick; XDP_MAX_TX_SKB_BUDGET
// (6.17) lets one call send a whole ring. The receive side makes no
// system call at all unless the fill ring asks (zero-copy drivers).
//
// Zero-copy (zerocopy) lets the driver DMA into the UMEM; veth has no
// zero-copy support, so the bind fails (EOPNOTSUPP) and Open says so.
//
// Native XDP on a veth (Linux 6.18): attaching a program to a veth makes
// it receive through its NAPI (veth_poll), so native mode works with
// nothing on the peer. The peer needs an XDP program (or GRO) only for
// frames redirected *into* a veth with XDP_REDIRECT/XDP_TX
// (ndo_xdp_xmit); AF_XDP in copy mode transmits ordinary skbs, so it
// does not. The kernel refuses native XDP on a veth whose peer's MTU
// exceeds a page less headroom (~3500 bytes) or that has fewer RX queues
// than its peer has TX queues; without mode, Open then uses generic and
// logs why. Measured (docs/PERFORMANCE.md): over one veth hop native is
// ~25% cheaper than generic; forwarding through a namespace they are
// within the noise (the sender has built an skb either way).
//
// Queues: AF_XDP socket q serves the interface's RX queue q, so how
// frames spread is the driver's (RSS on a NIC). On a veth created with
// numrxqueues N, native XDP runs on the RX queue numbered like the TX
// queue the peer's stack picked (by flow hash): the sockets share the
// flows. Generic XDP runs on the queue the skb recorded, which a veth
// does not: everything arrives on queue 0 (TestXDPMultiQueue).
//
// AF_XDP does not pass CHECKSUM_PARTIAL (the AF_PACKET
// TP_STATUS_CSUMNOTREADY): the backend recognises a partial TCP or UDP
// checksum by its field, which then holds exactly the pseudo-header sum
// of a segment that does not verify, and completes it
// (completePartialChecksum).
//
// Open falls back to the AF_PACKET backend, and logs a warning with the
// reason, where AF_XDP is not available: a kernel without AF_XDP or XDP
// (socket or program refused), missing privileges (EPERM), a UMEM the
// kernel will not pin, another XDP program on the interface or a driver
// that refuses both hooks, a queue another AF_XDP socket holds, an MTU
// too large. Port.Kind then says afpacket. A queue count beyond the
// interface's queues is an error (ErrBadSpec), not a fallback.
//
// XDP_STATISTICS gives the kernel's drops: rx_dropped (no fill frame,
// frame too long) and rx_ring_full are RxKernelDrops. A kick that reports
// EBUSY (the device dropped frames: a veth peer down or its backlog full)
// counts one TxError; how many frames it dropped the kernel does not say
// (the interface's own TX dropped counter has them). While the link
// itself is down a kick fails with ENETDOWN (counted) and nothing
// retries until the next Flush; queued frames go when it is back.
//
// # TAP
//
// A TAP device is created with IFF_TAP|IFF_NO_PI (plus IFF_MULTI_QUEUE for
// N > 1), given the netyard device's MTU, and left down: addresses and
// "ip link set tap0 up" are the user's, as after "ip tuntap add". While
// it is down, transmissions fail with EIO and count as TxErrors. The
// device disappears with Close unless it was created persistent
// beforehand (ip tuntap add), in which case Open attaches to it.
//
// The files have IFF_VNET_HDR and the device TUNSETOFFLOAD's partial
// checksums, TSO and (6.2+) USO, so the stack hands its GSO frames over
// whole, each read starting with a virtio_net_hdr (the same struct as
// AF_PACKET's, parseVnetHdr), and every write carries one (putVnetHdr):
// the stack segments or checksums what netyard passes on whole. A read
// is a readv into the header, the buffer's DataSize bytes and a 64 KiB
// scratch; only a frame longer than a buffer is copied again, into a big
// buffer (Pool.GetBig). A tap port is a netdev.GSOPort; counters count a
// GSO frame as its segments.
//
// # Not supported
//
//   - AF_XDP multi-buffer (frames above 4 KiB less headroom) and
//     zero-copy into pkt.Buffer (see AF_XDP).
//   - Segmentation offload on receive for AF_XDP: a local TCP
//     sender with TSO/GSO on hands those links frames of up to 64 KiB,
//     longer than the MTU, counted in RxDropped (AF_XDP generic: in
//     RxKernelDrops). Use afpacket on such a link (see Offloads), turn
//     GSO off on the sender (ethtool -K DEV tso off gso off), or on a
//     veth use xdp in native mode, which turns the peer's software GSO
//     off itself (veth_xdp_set). TAP has IFF_VNET_HDR (see TAP); no GRO.
//   - Completing an SCTP CRC32c left to offload.
//   - Links that are not Ethernet (loopback, IP tunnels, TUN): refused.
//   - Following a link's MTU change after Open; the kernel then discards
//     frames the old MTU allowed (PACKET_LOSS), uncounted here.
//   - Seeing netyard's transmissions with tcpdump on the link:
//     PACKET_QDISC_BYPASS skips the taps (dev_queue_xmit_nit).
//
// The link's own stack still receives the frames netyard receives: leave
// the attached interface without addresses, or its kernel answers too.
package link
