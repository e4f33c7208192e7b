#!/usr/bin/env python3
# Builds a radiotap capture with scapy for replay's 802.11 tests
# (TestReplayWifiProbes): management frames of every kind, data, and
# radiotap headers that are malformed, cut short, or carry fields netyard
# does not know; FCS present and absent. Writes the capture to argv[1] and,
# to argv[2], what a filter keeping probe requests must deliver: for each
# kept frame its 802.11 bytes (hex), signal and frequency.
import json
import struct
import sys

from scapy.all import conf
conf.logLevel = 40  # raw records into a radiotap writer: no link type warnings
from scapy.all import (RadioTap, Dot11, Dot11FCS, Dot11Beacon, Dot11Elt, Dot11ProbeReq,
                       Dot11ProbeResp, Dot11Auth, Dot11AssoReq, Dot11AssoResp, Dot11Deauth,
                       LLC, SNAP, Raw, PcapWriter, raw)

AP = "00:11:22:33:44:55"
BCAST = "ff:ff:ff:ff:ff:ff"
STAS = ["00:1b:63:aa:00:%02x" % i for i in range(4)] + ["f0:99:bf:10:20:%02x" % i for i in range(4)]

records = []  # (bytes of the record, expected dict or None)


def rt(signal, freq, fcs=False, badfcs=False, rate=2, tsft=0):
    flags = "FCS" if fcs else 0
    if badfcs:
        flags = "FCS+badFCS"
    chflags = "2GHz+CCK" if freq < 3000 else "5GHz+OFDM"
    return RadioTap(present="TSFT+Flags+Rate+Channel+dBm_AntSignal+dBm_AntNoise+Antenna",
                    mac_timestamp=tsft, Flags=flags, Rate=rate, ChannelFrequency=freq,
                    ChannelFlags=chflags, dBm_AntSignal=signal, dBm_AntNoise=-95, Antenna=1)


def add(radiotap_bytes, dot11_bytes, probe, signal=None, freq=None):
    exp = None
    if probe:
        exp = {"dot11": dot11_bytes.hex(), "signal": signal, "freq": freq}
    records.append((radiotap_bytes + dot11_bytes, exp))


def frame(pkt, signal, freq, probe=False, fcs=False, badfcs=False, tsft=0):
    r = raw(rt(signal, freq, fcs=fcs, badfcs=badfcs, tsft=tsft))
    add(r, raw(pkt), probe, signal, freq)


ssid = Dot11Elt(ID="SSID", info=b"netyard")
rates = Dot11Elt(ID="Rates", info=b"\x82\x84\x8b\x96\x0c\x12\x18\x24")
ds = Dot11Elt(ID="DSset", info=b"\x06")
seq = 0
for i in range(3):
    # beacons from the AP, channel 6
    frame(Dot11(type=0, subtype=8, addr1=BCAST, addr2=AP, addr3=AP, SC=(seq << 4)) /
          Dot11Beacon(cap="ESS") / ssid / rates / ds, -40, 2437, tsft=1000 + i)
    seq += 1
for n, sta in enumerate(STAS):
    # each station scans: probe request (kept), probe response
    sig = -50 - 3 * n
    fr = 2412 if n % 2 == 0 else 5180
    fcs = n % 3 == 0
    cls = Dot11FCS if fcs else Dot11
    frame(cls(type=0, subtype=4, addr1=BCAST, addr2=sta, addr3=BCAST, SC=(n << 4)) /
          Dot11ProbeReq() / Dot11Elt(ID="SSID", info=b"") / rates, sig, fr, probe=True, fcs=fcs, tsft=2000 + n)
    frame(Dot11(type=0, subtype=5, addr1=sta, addr2=AP, addr3=AP) /
          Dot11ProbeResp(cap="ESS") / ssid / rates / ds, -41, fr)
    frame(Dot11(type=0, subtype=11, addr1=AP, addr2=sta, addr3=AP) / Dot11Auth(algo=0, seqnum=1), sig, 2437)
    frame(Dot11(type=0, subtype=11, addr1=sta, addr2=AP, addr3=AP) / Dot11Auth(algo=0, seqnum=2), -41, 2437)
    frame(Dot11(type=0, subtype=0, addr1=AP, addr2=sta, addr3=AP) / Dot11AssoReq(cap="ESS") / ssid / rates, sig, 2437)
    frame(Dot11(type=0, subtype=1, addr1=sta, addr2=AP, addr3=AP) / Dot11AssoResp(cap="ESS", AID=n + 1) / rates, -41, 2437)
    frame(Dot11(type=2, subtype=0, FCfield="to-DS", addr1=AP, addr2=sta, addr3=BCAST) /
          LLC() / SNAP() / Raw(b"\x45" + b"\x00" * 40), sig, 2437)
frame(Dot11(type=0, subtype=12, addr1=STAS[0], addr2=AP, addr3=AP) / Dot11Deauth(reason=7), -41, 2437)

# A probe request whose FCS check failed: passed with the flag (docs/WIFI.md).
frame(Dot11FCS(type=0, subtype=4, addr1=BCAST, addr2=STAS[1], addr3=BCAST, fcs=0x12345678) /
      Dot11ProbeReq() / Dot11Elt(ID="SSID", info=b""), -77, 2412, probe=True, badfcs=True)

probe = raw(Dot11(type=0, subtype=4, addr1=BCAST, addr2=STAS[2], addr3=BCAST) / Dot11ProbeReq() /
            Dot11Elt(ID="SSID", info=b"x"))

# A vendor namespace in an extended bitmap, then the radiotap namespace
# again with the signal: read, kept.
words = [(1 << 3) | (1 << 30) | (1 << 31), (1 << 0) | (1 << 29) | (1 << 31), (1 << 5)]
body = struct.pack("<HH", 5200, 0x0140)                 # channel at 16
body += bytes([0x00, 0x11, 0x22, 0x01]) + struct.pack("<H", 3) + b"\xaa\xbb\xcc"  # vendor ns, skip 3
body += struct.pack("<b", -61)                          # signal at 29
hdr = struct.pack("<BBH", 0, 0, 4 + 4 * len(words) + len(body)) + b"".join(struct.pack("<I", w) for w in words) + body
add(hdr, probe, True, -61, 5200)

# A field netyard does not know (the TLV bit 28) after the signal and
# channel: the fields before it are kept, the frame passes.
body = struct.pack("<HH", 2462, 0x00a0) + struct.pack("<b", -66) + b"\x00" * 7
hdr = struct.pack("<BBHI", 0, 0, 8 + len(body), (1 << 3) | (1 << 5) | (1 << 28)) + body
add(hdr, probe, True, -66, 2462)

# Malformed: dropped and counted, never delivered.
good = raw(rt(-50, 2412))
lying = bytearray(good)
struct.pack_into("<H", lying, 2, 400)                  # a length beyond the record
add(bytes(lying), probe, False)
add(good[:5], b"", False)                               # cut inside the header
add(struct.pack("<BBHI", 0, 0, 8, 1 << 31), probe, False)  # an extended bitmap past the length
add(struct.pack("<BBHI", 1, 0, 8, 0), probe, False)     # version 1
add(good, probe[:6], False)                             # shorter than an 802.11 header: a runt

w = PcapWriter(sys.argv[1], linktype=127, sync=True)
t = 1_700_000_000.0
for i, (b, _) in enumerate(records):
    r = Raw(b)
    r.time = t + i / 100  # 10 ms apart
    w.write(r)
w.close()
json.dump([e for _, e in records if e], open(sys.argv[2], "w"), indent=1)
