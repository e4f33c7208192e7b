// Package air is a model of 802.11 management traffic in virtual time, as
// a sensor beside an access point would capture it: access points beacon
// every 100 TU (102.4 ms); stations arrive, scan (a burst of probe
// requests on every channel of the band, answered by the APs on that
// channel), authenticate, associate, send and receive QoS data, scan again
// now and then, roam to another AP (authentication and reassociation) and
// leave (deauthentication or disassociation); an attacker may flood
// deauthentication frames in an AP's name, which knocks that AP's
// stations off and sends them scanning again.
//
// Every frame comes with what a receiver knows of it (the receive
// metadata a radiotap header or netyard's 802.11 hook carries): time,
// channel and frequency, signal and noise in dBm, rate, TSF. Signal
// follows a log-distance path loss from the transmitter to the sensor
// with a fixed shadowing per transmitter and a little fading per frame.
// Frames are built with package dot11 and end in their FCS.
//
// Air.Next returns frames in time order. A station's or AP's future is
// one event in a binary heap (O(log n) per frame); a station plans the
// frames of an exchange (a scan, a handshake) as a short fixed array of
// steps, and writes the AP's answers itself, so an exchange costs no
// event of the AP's. Nothing allocates per frame: the frame is built into
// one reused buffer, randomness is a seeded PCG. The same Config gives
// the same frames.
//
// The BSS advertises RSN (WPA2-PSK, CCMP): a (re)association is followed
// by the 4-way handshake (EAPOL-Key messages 1 to 4 with random nonces and
// MICs), and data frames are protected: a CCMP header with the station's
// packet number, then the payload (left in the clear: nobody decrypts it)
// and an 8-byte MIC.
//
// Simplified on purpose: the sensor hears every channel (a radio per
// channel, as dedicated sensors have), frames are never lost or retried,
// there are no ACKs or other control frames, no power save, and stations
// keep their addresses while scanning.
package air
