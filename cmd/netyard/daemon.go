package main

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"netyard/bpf/bpftool"
	"netyard/bpf/ebpf"
	"netyard/ctl"
	"netyard/datapath"
	"netyard/metrics"
	"netyard/netdev"
	"netyard/tcsyntax"
)

// daemonConfig is what `netyard daemon` runs with.
type daemonConfig struct {
	socket string
	// makeDir: the socket is the default one, whose directory the
	// daemon creates when it is missing.
	makeDir bool
	group   string
	rules   string
	devs    nameList
	workers int
	// metrics is the Prometheus listen address ("" for none) and
	// metricsActions the per-action series limit (metrics.Options).
	metrics        string
	metricsActions int
	// socketMode, when not 0, is the socket's mode (--socket-mode,
	// e.g. 0666 to let tenants connect: authority is the daemon's,
	// from SO_PEERCRED; docs/SECURITY.md).
	socketMode os.FileMode
	// state is --state FILE: the configuration kept current and
	// restored on start (state.go).
	state string
	// bpfStats starts with run time accounting on (`netyard bpf stats`).
	bpfStats bool
	// tenantRate is --tenant-rate: commands a second per tenant uid (0:
	// unlimited; ratelimit.go). Set by the flag's default when parsed.
	tenantRate int
	rateGiven  bool
	// seed is --seed: the engine's HashSeed (flow hash, TX queue pick,
	// fq_codel's perturbation, netem, gact netrand, bpf_get_prandom_u32);
	// seedGiven false: a random one, logged at start.
	seed      uint32
	seedGiven bool
}

func cmdDaemon(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c daemonConfig
	fs.StringVar(&c.socket, "socket", ctl.SocketPath(), "control socket `PATH` (also $"+ctl.SocketEnv+")")
	fs.StringVar(&c.group, "group", "", "make the socket mode 0660 and owned by `GROUP` (name or id); default 0600")
	fs.StringVar(&c.rules, "c", "", "tc batch `FILE` to apply at start (devices first: dev add NAME type afpacket link IFNAME; see docs/TC.md)")
	fs.Var(&c.devs, "dev", "create an in-memory device `NAME` (repeatable)")
	fs.IntVar(&c.workers, "workers", 0, "datapath workers (0: one per core)")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9465) at "+metrics.Path)
	fs.Func("socket-mode", "the socket's `MODE` in octal (0666 lets every user connect; what each may do is the daemon's: tenant add, docs/SECURITY.md)", func(v string) error {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m == 0 || m > 0o777 {
			return fmt.Errorf("%q: an octal mode from 1 to 0777", v)
		}
		c.socketMode = os.FileMode(m)
		return nil
	})
	fs.StringVar(&c.state, "state", "", "keep the configuration in `FILE` after every change and restore it on start")
	fs.IntVar(&c.metricsActions, "metrics-actions", 0, "export one series per action for at most `N` actions (0: per-kind sums only)")
	fs.Func("tenant-rate", fmt.Sprintf("commands a second each tenant uid may send (`N`, default %d; 0: unlimited); a tenant's requests wait for their turn", defaultTenantRate), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: a number of commands a second, 0 for no limit", v)
		}
		c.tenantRate, c.rateGiven = n, true
		return nil
	})
	fs.Func("seed", "seed the flow hash and the random draws (fq_codel, netem, gact netrand, bpf_get_prandom_u32) with `N` to repeat a run (default: a random seed, logged at start)", func(v string) error {
		n, err := strconv.ParseUint(v, 0, 32)
		if err != nil {
			return fmt.Errorf("%q: a number from 0 to 4294967295", v)
		}
		c.seed, c.seedGiven = uint32(n), true
		return nil
	})
	fs.BoolVar(&c.bpfStats, "bpf-stats", false, "account eBPF programs' run time from the start (run_time_ns; kernel.bpf_stats_enabled; also netyard bpf stats on)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netyard daemon [--socket PATH] [--group GROUP] [--socket-mode MODE] [--state FILE] [--dev NAME ...] [-c rules.tc] [--workers N] [--metrics ADDR [--metrics-actions N]] [--bpf-stats] [--tenant-rate N] [--seed N]\n\nRuns the datapath and serves `netyard tc` on a unix socket until SIGTERM or SIGINT.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if c.metricsActions < 0 {
		return fmt.Errorf("%w: --metrics-actions %d: must be >= 0", errUsage, c.metricsActions)
	}
	// 0 (the default) is one worker per core; said explicitly, or
	// negative, it is a mistake.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["workers"] && c.workers < 1 {
		return fmt.Errorf("%w: --workers %d: must be at least 1 (leave it out for one per core)", errUsage, c.workers)
	}
	if len(c.socket) > ctl.MaxSocketPath {
		return fmt.Errorf("%w: --socket %s: %d bytes, over the kernel's limit of %d for a unix socket path", errUsage, c.socket, len(c.socket), ctl.MaxSocketPath)
	}
	for _, n := range c.devs {
		if err := netdev.ValidName(n); err != nil {
			return fmt.Errorf("%w: --dev: %v", errUsage, err)
		}
	}
	// The default socket's directory is the daemon's to make, as a
	// service's RuntimeDirectory would be.
	c.makeDir = !set["socket"] && os.Getenv(ctl.SocketEnv) == ""
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// NETYARD_CPUPROFILE (undocumented in the usage: a tool for
	// measuring, e.g. bench/filters-install.sh) writes a CPU profile of
	// the daemon's whole run to the file it names.
	if path := os.Getenv("NETYARD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return runDaemon(ctx, c, log, nil)
}

// runDaemon runs until ctx ends. ready, when not nil, is closed once the
// socket accepts connections (tests wait on it).
func runDaemon(ctx context.Context, c daemonConfig, log *slog.Logger, ready chan<- struct{}) error {
	perm, gid := os.FileMode(0o600), -1
	if c.group != "" {
		g, err := lookupGroup(c.group)
		if err != nil {
			return fmt.Errorf("%w: --group %s: %v", errUsage, c.group, err)
		}
		perm, gid = 0o660, g
	}
	if c.socketMode != 0 {
		perm = c.socketMode
	}
	if !c.seedGiven {
		// as the kernel seeds its flow hashes and qdisc perturbations: a
		// hash an outsider cannot predict (a fixed one invites hash
		// flooding of fq_codel's flows); replay and the lab fix theirs
		var b [4]byte
		if _, err := cryptorand.Read(b[:]); err != nil {
			return fmt.Errorf("daemon: a random seed: %v", err)
		}
		c.seed = binary.LittleEndian.Uint32(b[:])
	}
	e := datapath.New(datapath.Config{Workers: cappedWorkers(c.workers, runtime.GOMAXPROCS(0), log), Logger: log, HashSeed: c.seed})
	ns := e.Default()
	// eBPF object files: one loader for the engine, its pinned maps
	// kept apart per namespace; `netyard bpf` reads the same loader.
	bpfl := ebpf.NewLoader(e.Workers())
	bpfl.SetStats(c.bpfStats)
	e.LoadObject = bpfl.LoadObject
	tool := &bpftool.Tool{Loader: bpfl, NS: ns.Name()}
	dmn := newDaemon(e, log, gid)
	if c.rateGiven {
		dmn.tenantRate = c.tenantRate
	}
	target := dmn.targets[datapath.DefaultNamespace]
	// Backends stop after the workers (see the end), and on a failed start.
	defer dmn.close()
	// The daemon's own configuration (-c, --state) has every power.
	self := &who{}
	resolveSelf := func(netns string) (tcsyntax.Target, error) { return dmn.resolve(self, netns) }
	// A --state file that exists is the configuration: --dev and -c
	// made it on the first start, and are not applied again.
	restored := false
	if c.state != "" {
		var err error
		if restored, err = dmn.restoreState(c.state, resolveSelf); err != nil {
			return err
		}
	}
	for _, name := range c.devs {
		if restored {
			break
		}
		if err := target.AddDev(tcsyntax.DevSpec{Name: name, Type: "memory"}); err != nil {
			return err
		}
	}
	// Bind the metrics address before the socket, so that a bad one
	// fails the start and leaves no socket behind.
	var ms *metrics.Server
	if c.metrics != "" {
		var err error
		if ms, err = metrics.Listen(c.metrics, e, metrics.Options{ActionSeries: c.metricsActions, BPF: bpfl, Authority: dmn, Backends: dmn}); err != nil {
			return err
		}
		defer ms.Close() // releases the address on a failed start
	}
	if c.rules != "" && !restored {
		var errb bytes.Buffer
		cli := tcsyntax.CLI{Resolve: resolveSelf, Stdout: io.Discard, Stderr: &errb}
		if err := cli.Run([]string{"-b", c.rules}); err != nil {
			return fmt.Errorf("%s: %s", c.rules, bytes.TrimSpace(errb.Bytes()))
		}
	}
	if c.state != "" && dmn.changed != nil {
		// What --dev and -c made on a first start.
		if err := dmn.changed(); err != nil {
			return fmt.Errorf("--state %s: %w", c.state, err)
		}
	}
	if err := socketDir(c.socket, c.makeDir); err != nil {
		return err
	}
	l, err := ctl.Listen(c.socket, perm, gid)
	if err != nil {
		return err
	}
	sopts := []ctl.ServerOption{ctl.WithLogger(log), ctl.WithDumpResolver(dmn.dumper)}
	for kind, d := range ns.ActionDumpers() {
		sopts = append(sopts, ctl.WithDumper(kind, d))
	}
	sopts = append(sopts, ctl.WithDumper("filter", ns.FilterDumper()))
	srv := ctl.NewServer(append(sopts, ctl.WithHandler(ctl.HandlerFunc(
		func(rctx context.Context, req *ctl.ExecRequest, stdout, stderr io.Writer) error {
			w := dmn.whoIs(rctx)
			if req.Batch == nil && isCaptureExec(req.Words) {
				// A tenant may capture its own devices' frames, paced
				// like its other commands (--tenant-rate).
				if err := dmn.throttle(rctx, w); err != nil {
					return err
				}
				return runCapture(rctx, dmn, w, req.Words, stdout, stderr)
			}
			if req.Batch == nil && isBPFExec(req.Words) {
				// Programs and maps are not yet kept per tenant:
				// `netyard bpf` is the administrators'.
				if !w.admin {
					return dmn.deny(w, "bpf (programs and maps: administrators only)")
				}
				return runBPFExec(rctx, tool, req.Words, stdout, stderr)
			}
			// The request's Stdin is its own copy, changed by no one:
			// a batch chunk runs where it lies (StdinText).
			cli := tcsyntax.CLI{Resolve: func(netns string) (tcsyntax.Target, error) { return dmn.resolve(w, netns) }, Stdout: stdout, Stderr: stderr, Stdin: bytes.NewReader(req.Stdin), StdinText: req.Stdin,
				// A batch file is the client's: it sends the contents
				// (as "-b -"), never a path for the daemon to open.
				ReadFile: func(name string) ([]byte, error) {
					return nil, fmt.Errorf("%s: the daemon reads no files; netyard tc sends a batch as -b -", name)
				},
				// A tenant's commands wait for their turn, line by
				// line (ratelimit.go).
				Pace: func() error { return dmn.throttle(rctx, w) },
				// A program file is opened by the daemon, with its
				// rights: only an administrator may name one.
				MayOpen: func(name string) error {
					if w.admin {
						return nil
					}
					return dmn.deny(w, "opening "+name+" (bytecode-file, object-file: administrators only)")
				}}
			if b := req.Batch; b != nil {
				cli.LineBase = b.FirstLine
				defer bulkGC()()
			}
			err := dmn.run(&cli, req.Words, w)
			if b := req.Batch; b != nil {
				b.Applied, b.Failed, b.StopLine = cli.Batch.Applied, cli.Batch.Failed, cli.Batch.StopLine
			}
			if err == nil {
				return nil
			}
			// The errno says what kind of failure it was; the status
			// is the exit code tc gives for it, which the client uses.
			ce := &ctl.Error{Errno: syscall.EINVAL, Msg: err.Error(), Status: tcsyntax.ExitStatus(err)}
			switch {
			case errors.Is(err, tcsyntax.ErrNotFound), errors.Is(err, tcsyntax.ErrNoDevice):
				ce.Errno = syscall.ENOENT
			case errors.Is(err, tcsyntax.ErrExists):
				ce.Errno = syscall.EEXIST
			}
			return ce
		})))...)
	// The workers and the metrics server stop with ctx, or when the
	// control server fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := e.Start(ctx)
	waitMetrics := func() error { return nil }
	if ms != nil {
		waitMetrics = ms.Start(ctx)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	// Devices from --dev and from the rules file (dev add) alike.
	log.Info("netyard daemon ready", "socket", c.socket, "workers", e.Workers(), "devices", len(ns.Devices()), "metrics", c.metrics, "seed", c.seed)
	if ready != nil {
		close(ready)
	}
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	// Stop accepting, end the sessions, then the workers.
	_ = srv.Close()
	cancel()
	wait()
	if merr := waitMetrics(); merr != nil {
		log.Warn("metrics server", "err", merr)
	}
	// The listener removed the socket (srv.Close), if it was still
	// ours: a daemon never removes another daemon's socket.
	log.Info("netyard daemon stopped")
	if errors.Is(err, ctl.ErrClosed) {
		err = nil
	}
	return err
}

// socketDir makes sure the socket's directory exists: the default one
// (create) is created, 0755 as /run's directories are (the socket in it is
// 0600); for another, or when that fails, it says what to do.
func socketDir(path string, create bool) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or Listen says what is wrong with it
	}
	if !create {
		return fmt.Errorf("--socket %s: the directory %s does not exist: create it, or choose another path", path, dir)
	}
	err := os.Mkdir(dir, 0o755)
	if err == nil {
		err = os.Chmod(dir, 0o755) // whatever the umask
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cannot create %s for the control socket (%v): run the daemon as root, or give --socket PATH (or $%s) in a directory you can write", dir, err, ctl.SocketEnv)
	}
	return nil
}

func lookupGroup(g string) (int, error) {
	if id, err := strconv.Atoi(g); err == nil {
		return id, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// bulkGCPercent is the collector's GOGC while batch chunks are applied:
// a bulk load of a million filters allocates what it keeps, so collecting
// at every doubling of the heap is mostly wasted marking of the filters
// already loaded (a fifth of the daemon's CPU at GOGC 100). The heap may
// grow further than at 100 meanwhile (up to 1+bulkGCPercent/100 times the
// data live at the last collection). The setting before is put back
// bulkGCLinger after the last chunk in flight ends: a streamed batch
// leaves gaps between its chunks, and restoring in every gap would start
// a collection in each.
const (
	bulkGCPercent = 200
	bulkGCLinger  = 500 * time.Millisecond
)

var bulk struct {
	sync.Mutex
	n       int
	raised  bool
	prev    int
	restore *time.Timer
}

// bulkGC raises GOGC for a batch chunk; the function it returns schedules
// the restore once no chunk is being applied (chunks of parallel batches
// overlap).
func bulkGC() func() {
	bulk.Lock()
	if bulk.restore != nil {
		bulk.restore.Stop()
	}
	if !bulk.raised {
		bulk.prev = debug.SetGCPercent(bulkGCPercent)
		if bulk.prev < 0 || bulk.prev >= bulkGCPercent {
			debug.SetGCPercent(bulk.prev) // off, or already higher: leave it
		}
		bulk.raised = true
	}
	bulk.n++
	bulk.Unlock()
	return func() {
		bulk.Lock()
		defer bulk.Unlock()
		if bulk.n--; bulk.n > 0 {
			return
		}
		if bulk.restore == nil {
			bulk.restore = time.AfterFunc(bulkGCLinger, func() {
				bulk.Lock()
				defer bulk.Unlock()
				if bulk.n == 0 && bulk.raised {
					debug.SetGCPercent(bulk.prev)
					bulk.raised = false
				}
			})
			return
		}
		bulk.restore.Reset(bulkGCLinger)
	}
}

// cappedWorkers is the number of workers the daemon runs for --workers n
// when the process may use cpus CPUs (GOMAXPROCS: the affinity mask, the
// cgroup's quota, or the GOMAXPROCS variable): at most one per CPU, as the
// kernel has one receive context (NAPI softirq) per CPU. Workers beyond
// the CPUs cannot run at the same time; they take turns on a CPU, and
// every frame that crosses from one device to another of a different
// worker then waits for the turn (issue 16: --workers 2 on one CPU
// delivered 0.65-0.79 of one worker). Said once in the log. 0 (one per
// CPU) passes through.
func cappedWorkers(n, cpus int, log *slog.Logger) int {
	if n <= cpus || cpus < 1 {
		return n
	}
	log.Warn("daemon: more workers than CPUs this process may run on; running one worker per CPU (workers on a shared CPU only take turns, and redirects between them wait for the turn)",
		"workers", n, "cpus", cpus, "running", cpus)
	return cpus
}
