// Package master is comet's entry point: flag handling, the master (listener, stats table, supervisor, push hub,
// admin listener, signal-driven drain) and the worker side of the single comet executable.
package master

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/admin"
	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/comet-lab/comet-lab/src/comet/cometcfg"
	"github.com/comet-lab/comet-lab/src/comet/control"
	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/comet-lab/comet-lab/src/comet/supervise"
	"github.com/comet-lab/comet-lab/src/lib/netloop"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Engines maps -engine values to their worker entry points.
type Engines map[string]RunWorker

// AckTimeout is how long a publish waits for every worker's acknowledgement before reporting a partial count.
const AckTimeout = 60 * time.Second

// drainGrace is added to -drain-timeout before stragglers are killed: the workers' own deadline comes first.
const drainGrace = 2 * time.Second

// Main runs comet with os.Args[1:] and returns the exit status: 0 ok, 1 runtime failure, 2 bad flags.
func Main(args []string, engines Engines, stderr io.Writer) int {
	if len(args) > 0 && args[0] == cometcfg.WorkerArg {
		return workerMain(args[1:], engines, stderr)
	}
	var cfg cometcfg.Config
	fs := flag.NewFlagSet("comet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.Register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: comet [flags]\n\nA prefork long-poll HTTP server: -procs workers share -listen, each holds GETs for\n"+
			"[-hold-min, -hold-max] then answers 200; /sub?id=&since= receives pushes from the admin listener.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package printed the message naming the flag, and the usage
	}
	usageError := func(err error) int {
		fmt.Fprintf(stderr, "comet: %v\n", err)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected argument %q (comet takes only flags)", fs.Arg(0)))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	if engines[cfg.Engine] == nil {
		return usageError(fmt.Errorf("-engine %q is not built into this binary", cfg.Engine))
	}
	if err := admin.CheckExposure(cfg.Admin, cfg.AdminToken); err != nil {
		return usageError(err)
	}
	if err := checkBroker(cfg.Broker); err != nil {
		return usageError(err)
	}
	log, err := NewLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	if err != nil {
		return usageError(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, cfg, log); err != nil {
		log.WithError(err).Error("comet failed")
		return 1
	}
	return 0
}

// NewLogger builds the lifecycle logger (stderr, text or json).
func NewLogger(format, level string, out io.Writer) (*logrus.Logger, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	log := logrus.New()
	log.SetOutput(out)
	log.SetLevel(lvl)
	switch format {
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	case "text":
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", format)
	}
	return log, nil
}

// listenGroup opens one SO_REUSEPORT listener per worker on the same address. The kernel spreads new connections
// over them by 4-tuple hash, so every worker gets an even share: a shared accept queue lets the busiest worker run
// into its fd limit first, and lets each worker's high-water mark creep up from one churn cycle to the next.
func listenGroup(addr string, backlog, n int) ([]int, int, error) {
	fds := make([]int, 0, n)
	fail := func(err error) ([]int, int, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, 0, fmt.Errorf("-listen %s: %w", addr, err)
	}
	ip, _, err := netloop.ParseAddr4(addr)
	if err != nil {
		return fail(err)
	}
	bindAddr := addr
	port := 0
	for i := 0; i < n; i++ {
		fd, err := netloop.Listen(bindAddr, backlog, true)
		if err != nil {
			return fail(err)
		}
		fds = append(fds, fd)
		if i == 0 {
			// With port 0 the first socket picks the port; the rest of the group joins it.
			if port, err = netloop.LocalPort(fd); err != nil {
				return fail(err)
			}
			bindAddr = net.JoinHostPort(net.IP(ip[:]).String(), strconv.Itoa(port))
		}
	}
	return fds, port, nil
}

// Run is the master: it listens, starts the workers and the admin listener, and drains everything when ctx ends.
func Run(ctx context.Context, cfg cometcfg.Config, log *logrus.Logger) error {
	// The master holds no connections; a low GC target keeps its heap (and PSS) near the live set.
	debug.SetGCPercent(20)
	if err := admin.CheckExposure(cfg.Admin, cfg.AdminToken); err != nil {
		return err
	}
	lfds, port, err := listenGroup(cfg.Listen, cfg.Backlog, cfg.Procs)
	if err != nil {
		return err
	}
	defer func() {
		for _, fd := range lfds {
			unix.Close(fd)
		}
	}()
	table, err := stats.Create(cfg.Procs)
	if err != nil {
		return err
	}
	defer table.Close()
	var adminLn net.Listener
	if cfg.Admin != "" {
		if adminLn, err = net.Listen("tcp", cfg.Admin); err != nil {
			return fmt.Errorf("-admin %s: %w", cfg.Admin, err)
		}
		defer adminLn.Close()
	}

	push, err := startPush(cfg, log)
	if err != nil {
		return err
	}
	defer push.close()
	sup, err := supervise.New(supervise.Config{
		Procs:     cfg.Procs,
		Args:      append([]string{cometcfg.WorkerArg}, cfg.Args()...),
		Env:       os.Environ(),
		ListenFDs: lfds,
		Table:     table,
		Log:       log,
		Attach:    push.hub.Attach,
		Detach:    push.hub.Detach,
	})
	if err != nil {
		return err
	}
	if err := sup.Start(); err != nil {
		sup.Wait()
		return err
	}

	var adminSrv *http.Server
	if adminLn != nil {
		adm := admin.New(admin.Options{
			Token: cfg.AdminToken, MaxMessage: cfg.MaxMessage, Engine: cfg.Engine, Table: table,
			Workers: sup.Workers, Publish: push.publish, PushCounts: push.hub.Counts, Broker: push.broker,
		})
		adminSrv = adm.Server()
		go func() {
			if err := adminSrv.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.WithError(err).Error("admin listener stopped")
			}
		}()
	}
	pids := make([]int, 0, cfg.Procs)
	for _, w := range sup.Workers() {
		pids = append(pids, w.PID)
	}
	log.WithFields(logrus.Fields{
		"pid": os.Getpid(), "procs": cfg.Procs, "engine": cfg.Engine, "listen": cfg.Listen, "port": port,
		"admin": cfg.Admin, "workers": pids, "broker": broker.Redact(cfg.Broker.URLs),
	}).Info("comet started")

	<-ctx.Done()
	log.WithField("timeout", cfg.DrainTimeout.String()).Info("draining workers")
	drain, _ := control.Append(nil, control.Message{Kind: control.Drain})
	drainErr := sup.Drain(drain, cfg.DrainTimeout+drainGrace)
	if adminSrv != nil {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		adminSrv.Shutdown(shutdownCtx)
		cancel()
	}
	if drainErr != nil {
		return drainErr
	}
	log.WithField("restarts", sup.Restarts()).Info("comet exited")
	return nil
}
