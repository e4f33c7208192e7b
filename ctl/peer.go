package ctl

import (
	"context"
	"net"
)

// Peer is who is at the other end of a connection: the credentials the
// kernel recorded when the client connected (SO_PEERCRED), which the
// client cannot forge. The daemon decides with them what a connection may
// see and change (docs/SECURITY.md).
type Peer struct {
	PID      int32
	UID, GID uint32
}

type peerKey struct{}

// WithPeer returns ctx carrying p.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the credentials of the connection a request came on;
// ok is false when there are none (an in-process stream, a platform
// without SO_PEERCRED).
func PeerFrom(ctx context.Context) (p Peer, ok bool) {
	p, ok = ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// peerContext adds c's peer credentials to ctx when c is a unix socket.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	if p, ok := peerOf(c); ok {
		return WithPeer(ctx, p)
	}
	return ctx
}

// WithDumpResolver sets a function that picks the Dumper of a dump
// request before the tables given with WithDumper: with ctx (PeerFrom
// says who asks) and the request's kind it returns the Dumper, nil to
// fall back to WithDumper's tables, or an error (an *Error picks the
// errno) that refuses the request. The daemon serves each namespace's
// tables under "netns/NAME/KIND" this way and refuses tenants the tables
// of others.
func WithDumpResolver(f func(ctx context.Context, kind string) (Dumper, error)) ServerOption {
	return func(s *Server) { s.resolveDump = f }
}
