// Package dot11 builds and parses IEEE 802.11 frames: the MAC header
// (frame control, duration, addresses, sequence control, QoS and HT
// control), the fixed fields of management frames, information elements
// and the FCS, as 802.11-2020 clause 9 defines them and as the air
// carries them (little-endian fields, no radiotap).
//
// Builders append to a caller's slice (AppendHeader, AppendMgmt,
// AppendSSID, ...) and parsers return values and sub-slices of the frame
// (ParseHeader, ParseMgmt, IEIter): neither allocates, so the traffic model
// (package wifi/air) builds every frame into one buffer and a BPF hook's
// test harness can parse millions. Errors are package-level values that
// unwrap to wire.ErrTruncated or wire.ErrBadHeader, so a flood of bad
// frames costs no allocation either.
//
// What is left out, on purpose: security (the Protected flag is carried,
// CCMP/GCMP headers are not built or parsed), A-MSDU, mesh control, the
// S1G and DMG frame formats, and control frames other than the common
// ones (ACK, CTS, RTS, PS-Poll, CF-End, BlockAckReq, BlockAck: their
// header only). gopacket's layers.Dot11 and tshark are the tests' oracles.
package dot11
