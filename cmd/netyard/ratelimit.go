package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// A tenant's commands cost the daemon's CPU, which the datapath's workers
// share: a tenant that sends commands as fast as it can (refused ones
// too: each is checked, counted and logged) took a core on a 2-core
// machine and tripled another tenant's p99 latency
// (TestTenantFairnessDaemon). So each tenant uid gets a token bucket of
// commands: every command waits for its token (a batch line by line,
// tcsyntax.CLI.Pace), which slows that tenant's own client and nobody
// else. The
// administrators and the daemon's own configuration are not limited.

// defaultTenantRate is --tenant-rate's default: commands a second per
// tenant uid. tenantBurst is how many may run back to back: small, so
// that a tenant's batch is spread out rather than run in a burst that
// holds a core for a while.
const (
	defaultTenantRate = 1000
	tenantBurst       = 20
)

// throttle waits until w may run one more command. It returns ctx's error
// if the client goes away meanwhile.
func (d *daemon) throttle(ctx context.Context, w *who) error {
	if w.admin || !w.known || d.tenantRate <= 0 {
		return nil
	}
	d.mu.Lock()
	lim := d.limits[w.peer.UID]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(d.tenantRate), tenantBurst)
		d.limits[w.peer.UID] = lim
	}
	d.mu.Unlock()
	if lim.TokensAt(time.Now()) < 1 {
		d.throttled.Add(1)
	}
	if err := lim.Wait(ctx); err != nil {
		return fmt.Errorf("the daemon limits a tenant's commands (%d a second): %w", d.tenantRate, err)
	}
	return nil
}
