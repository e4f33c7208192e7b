package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"netyard/datapath"
)

// Path is where Server serves the metrics, Prometheus's default
// metrics_path.
const Path = "/metrics"

// Handler serves e's metrics in Prometheus's exposition formats, with the
// Go runtime's and the process's. The registry is the handler's own, not
// prometheus.DefaultRegisterer: two engines in one process (tests, a lab)
// each get theirs, and nothing another package registers globally leaks
// into netyard's output.
func Handler(e *datapath.Engine, opts Options) http.Handler {
	reg := prometheus.NewRegistry()
	// MustRegister panics only on inconsistent descriptors, a bug in
	// this package that TestHandler catches.
	reg.MustRegister(
		NewCollector(e, opts),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// ContinueOnError: one unreadable object should cost its series,
	// not the whole scrape. InstrumentMetricHandler adds
	// promhttp_metric_handler_requests_total, as promhttp.Handler does.
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
		Timeout:             scrapeTimeout,
	}))
}

// maxScrapes bounds concurrent scrapes: each one walks every namespace's
// action table, and a few Prometheus servers scraping one daemon need no
// more than this. Beyond it promhttp answers 503.
const maxScrapes = 4

// scrapeTimeout is under Prometheus's default scrape_timeout (10s), so that
// a slow scrape is answered with an error Prometheus records rather than
// a connection it gives up on.
const scrapeTimeout = 9 * time.Second

// shutdownGrace is how long a stopping Server lets scrapes in flight end.
const shutdownGrace = 2 * time.Second

// Server serves Handler over HTTP at Path.
type Server struct {
	ln net.Listener
	hs *http.Server
}

// Listen binds addr ("127.0.0.1:9465", ":9465") at once, so that an
// address that is taken or malformed fails the daemon's start instead of
// a goroutine later.
func Listen(addr string, e *datapath.Engine, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, Handler(e, opts))
	return &Server{ln: ln, hs: &http.Server{
		Handler: mux,
		// A client that never finishes its headers must not hold a
		// connection forever.
		ReadHeaderTimeout: 5 * time.Second,
	}}, nil
}

// Addr is the address the server listens on (the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server at once, started or not, ending scrapes in flight:
// a caller that fails after Listen releases the address with it.
func (s *Server) Close() error {
	err := s.hs.Close()
	if lerr := s.ln.Close(); err == nil && !errors.Is(lerr, net.ErrClosed) {
		err = lerr
	}
	return err
}

// Start serves until ctx ends, then shuts down, giving scrapes in flight
// shutdownGrace to finish. wait returns when the server has stopped, with
// the error that stopped it if it was not ctx; it may be called more than
// once.
func (s *Server) Start(ctx context.Context) (wait func() error) {
	served := make(chan error, 1)
	go func() { served <- s.hs.Serve(s.ln) }()
	done := make(chan error, 1)
	go func() {
		var err error
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err = s.hs.Shutdown(sctx)
			cancel()
			if err != nil {
				err = s.hs.Close()
			}
			<-served
		case err = <-served:
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done })
}
