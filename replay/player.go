package replay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"netyard/datapath"
	"netyard/netdev"
)

// Player plays a capture onto a device in real time, as tcpreplay puts
// one on a wire: `dev add NAME type pcap file CAPTURE [speed N|rate
// PPS|topspeed] [loop N]` in the daemon. Each record enters the device's
// receive path (Device.InjectCapture: a radiotap header becomes the
// frame's receive metadata) at its time in the capture, measured from
// the first record and divided by Speed; or Rate records a second; or
// as fast as the device takes them (TopSpeed). A full receive ring drops
// and counts, as a NIC's does.
type Player struct {
	Path     string
	Speed    float64 // > 0: the capture's pace times Speed (0: 1)
	Rate     float64 // > 0: this many records a second, whatever their times
	TopSpeed bool    // no waiting at all
	Loop     int     // plays: 0 or 1 once, -1 for ever
	// Now and Sleep are the clock (nil: the wall clock); tests pass a
	// manual one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Stamp is the arrival time a record gets (pkt.Meta.Time): the
	// datapath's clock (nil: Now in Unix nanoseconds).
	Stamp func() int64

	played, loops atomic.Uint64
}

// Stats is what the player has done: records injected and whole plays of
// the capture.
func (p *Player) Stats() (played, loops uint64) { return p.played.Load(), p.loops.Load() }

// CheckCapture opens path as a capture and returns the link layer a
// device playing it needs, or an error in words (not a capture, a link
// type netyard does not replay).
func CheckCapture(path string) (netdev.Link, error) {
	s, err := openSource("", path)
	if err != nil {
		return 0, err
	}
	defer s.close()
	return datapath.DeviceLink(s.lt)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// minSleep: a record due sooner than this is injected at once rather
// than slept for (a timer's own resolution is about this).
const minSleep = 50 * time.Microsecond

// Play plays the capture onto d until the loops are done, ctx ends, or
// the file cannot be read (a capture cut short ends its play without an
// error, as tcpreplay's). Records d refuses (a malformed radiotap
// header, a frame too large) are counted by d and skipped.
func (p *Player) Play(ctx context.Context, d *datapath.Device) error {
	now, sleep := p.Now, p.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	stamp := p.Stamp
	if stamp == nil {
		stamp = func() int64 { return now().UnixNano() }
	}
	speed := p.Speed
	if speed <= 0 {
		speed = 1
	}
	for loop := 0; p.Loop < 0 || loop < max(p.Loop, 1); loop++ {
		s, err := openSource(d.Name(), p.Path)
		if err != nil {
			return err
		}
		start := now()
		first := s.ts
		for i := 0; !s.done; i++ {
			var due time.Duration
			switch {
			case p.TopSpeed:
			case p.Rate > 0:
				due = time.Duration(float64(i) / p.Rate * float64(time.Second))
			default:
				due = time.Duration(float64(s.ts-first) / speed)
			}
			if wait := due - now().Sub(start); wait > minSleep {
				if err := sleep(ctx, wait); err != nil {
					s.close()
					return err
				}
			} else if err := ctx.Err(); err != nil {
				s.close()
				return err
			}
			err := d.InjectCapture(s.lt, s.next, stamp())
			if err == nil {
				p.played.Add(1)
			} else if errors.Is(err, datapath.ErrLinkType) {
				s.close()
				return fmt.Errorf("%s: %w", p.Path, err)
			}
			if err := s.advance(); err != nil {
				s.close()
				return err
			}
		}
		s.close()
		p.loops.Add(1)
	}
	return nil
}
