package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"netyard/ctl"
	"netyard/datapath"
	"netyard/tcsyntax"
)

// BenchmarkAuthority is the control plane's cost of authority per message:
// who a connection is (SO_PEERCRED's uid against 100 tenant lines, the
// user's groups cached) and the namespace it may address, next to the
// cost of running one command ("actions add" of a gact) without it.
func BenchmarkAuthority(b *testing.B) {
	e := datapath.New(datapath.Config{Workers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d := newDaemon(e, slog.New(slog.NewTextHandler(io.Discard, nil)), -1)
	self := &who{}
	for i := range 100 {
		name := fmt.Sprintf("t%d", i)
		t, _ := d.resolve(self, "")
		if err := t.(*nsSession).AddNetns(name); err != nil {
			b.Fatal(err)
		}
		if err := t.(*nsSession).AddTenant(tcsyntax.TenantSpec{Netns: name, UID: 60000 + i, GID: -1}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := ctl.WithPeer(context.Background(), ctl.Peer{UID: 60050, GID: 60050, PID: 1})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			w := d.whoIs(ctx)
			if _, err := d.resolve(w, "t50"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("command", func(b *testing.B) {
		words := []string{"actions", "add", "action", "gact", "drop"}
		w := d.whoIs(ctx)
		cli := tcsyntax.CLI{Resolve: func(n string) (tcsyntax.Target, error) { return d.resolve(w, n) }, Stdout: io.Discard, Stderr: io.Discard}
		for b.Loop() {
			if err := cli.Run(words); err != nil {
				b.Fatal(err)
			}
		}
	})
}
