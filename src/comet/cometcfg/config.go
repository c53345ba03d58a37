// Package cometcfg holds comet's configuration: the flags shared by the master and both worker engines, parsed in
// one place so every process agrees on them.
package cometcfg

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/comet-lab/comet-lab/src/comet/stats"
	"github.com/sirupsen/logrus"
)

// Engines comet can run.
const (
	EngineNetpoll   = "netpoll"
	EngineGoroutine = "goroutine"
)

// Config is every comet flag.
type Config struct {
	Listen        string
	Procs         int
	Engine        string
	HoldMin       time.Duration
	HoldMax       time.Duration
	Tick          time.Duration
	HeaderTimeout time.Duration
	IdleTimeout   time.Duration
	DrainTimeout  time.Duration
	MaxHeads      int
	Backlog       int
	Admin         string
	AdminToken    string
	MaxMessage    int
	Keep          int
	LogFormat     string
	LogLevel      string
	Broker        BrokerFlags
}

// BrokerFlags connect the master to a NATS broker (scale-out over several comet servers); workers never see them.
type BrokerFlags struct {
	URLs     string // nats://host:port[,host:port…]; empty = no broker
	Creds    string
	User     string
	Password string
	Token    string
	Stream   string
	Bin      string // the comet-broker executable; empty = next to comet's own
}

// DrawHold picks a request's hold time uniformly in [HoldMin, HoldMax], from rng (not goroutine-safe: one per
// event loop) or, when rng is nil, from the goroutine-safe global source.
func (c *Config) DrawHold(rng *rand.Rand) time.Duration {
	span := c.HoldMax - c.HoldMin
	switch {
	case span <= 0:
		return c.HoldMin
	case rng == nil:
		return c.HoldMin + rand.N(span+1)
	default:
		return c.HoldMin + time.Duration(rng.Int64N(int64(span)+1))
	}
}

// TokenEnv is the environment variable that supplies the admin token without putting it on the command line.
const TokenEnv = "COMET_ADMIN_TOKEN"

// Environment variables with the broker's secrets, so they need not appear on the command line.
const (
	BrokerPasswordEnv = "COMET_BROKER_PASSWORD"
	BrokerTokenEnv    = "COMET_BROKER_TOKEN"
)

// Register defines the flags on fs, with the seed's defaults.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", ":11181", "address the comet port listens on (IPv4 host:port)")
	fs.IntVar(&c.Procs, "procs", runtime.NumCPU(), "worker processes sharing the port")
	fs.StringVar(&c.Engine, "engine", EngineNetpoll, "worker engine: netpoll (easygo epoll, raw fds) or goroutine (net/http baseline)")
	fs.DurationVar(&c.HoldMin, "hold-min", 30*time.Second, "shortest time a GET is held before its 200")
	fs.DurationVar(&c.HoldMax, "hold-max", 90*time.Second, "longest time a GET is held before its 200")
	fs.DurationVar(&c.Tick, "tick", time.Second, "timing wheel tick: answers fire within one tick of their deadline")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", 10*time.Second, "time allowed to complete a request head (408 after)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 2*time.Minute, "close a connection that sends no request for this long (0 = never)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 5*time.Second, "on SIGTERM, time allowed to answer held requests and exit")
	fs.IntVar(&c.MaxHeads, "max-heads", 10000, "per worker: connections allowed in the middle of a request head (503 beyond)")
	fs.IntVar(&c.Backlog, "backlog", 65535, "listen backlog (the kernel caps it at net.core.somaxconn)")
	fs.StringVar(&c.Admin, "admin", "127.0.0.1:11182", "admin listener: /stats, /metrics, /pub, /broadcast (empty = off)")
	fs.StringVar(&c.AdminToken, "admin-token", os.Getenv(TokenEnv), "bearer token the admin listener requires (default $"+TokenEnv+"); required when -admin is not loopback")
	fs.IntVar(&c.MaxMessage, "max-message", 4096, "largest publish/broadcast body in bytes (413 beyond)")
	fs.IntVar(&c.Keep, "keep", 64, "messages kept for re-polling subscribers (broadcast ring and per-id store)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Broker.URLs, "broker", "", "NATS servers nats://host:port[,host:port…] to share publishes with other comet servers (empty = none)")
	fs.StringVar(&c.Broker.Creds, "broker-creds", "", "NATS credentials file (.creds) for -broker")
	fs.StringVar(&c.Broker.User, "broker-user", "", "NATS user for -broker (password: -broker-password or $"+BrokerPasswordEnv+")")
	fs.StringVar(&c.Broker.Password, "broker-password", os.Getenv(BrokerPasswordEnv), "NATS password for -broker-user (default $"+BrokerPasswordEnv+")")
	fs.StringVar(&c.Broker.Token, "broker-token", os.Getenv(BrokerTokenEnv), "NATS token for -broker (default $"+BrokerTokenEnv+")")
	fs.StringVar(&c.Broker.Bin, "broker-bin", "", "the comet-broker executable that holds the broker connection (default: beside comet)")
	fs.StringVar(&c.Broker.Stream, "broker-stream", "COMET", "JetStream stream the comet servers share (subject <lower-case name>.push)")
}

// Validate reports the first flag combination that cannot work, naming the flag.
func (c *Config) Validate() error {
	var errs []error
	if c.Engine != EngineNetpoll && c.Engine != EngineGoroutine {
		errs = append(errs, fmt.Errorf("-engine %q: want netpoll or goroutine", c.Engine))
	}
	if c.Procs < 1 || c.Procs > 1024 {
		errs = append(errs, fmt.Errorf("-procs %d: want 1..1024", c.Procs))
	}
	if c.HoldMin < 0 || c.HoldMax < c.HoldMin {
		errs = append(errs, fmt.Errorf("-hold-min %v / -hold-max %v: want 0 <= min <= max", c.HoldMin, c.HoldMax))
	}
	if c.Tick <= 0 || c.Tick > time.Minute {
		errs = append(errs, fmt.Errorf("-tick %v: want > 0 and <= 1m", c.Tick))
	}
	if c.HeaderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-header-timeout %v: want > 0", c.HeaderTimeout))
	}
	if c.IdleTimeout < 0 || c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-idle-timeout %v / -drain-timeout %v: want idle >= 0, drain > 0", c.IdleTimeout, c.DrainTimeout))
	}
	if c.MaxHeads < 1 || c.Backlog < 1 {
		errs = append(errs, fmt.Errorf("-max-heads %d / -backlog %d: want >= 1", c.MaxHeads, c.Backlog))
	}
	if c.MaxMessage < 1 || c.MaxMessage > 60<<10 {
		errs = append(errs, fmt.Errorf("-max-message %d: want 1..61440", c.MaxMessage))
	}
	if c.Keep < 1 || c.Keep > 4096 {
		errs = append(errs, fmt.Errorf("-keep %d: want 1..4096", c.Keep))
	}
	if c.Broker.URLs == "" && (c.Broker.Creds != "" || c.Broker.User != "") {
		errs = append(errs, errors.New("-broker-creds / -broker-user need -broker"))
	}
	if c.Broker.URLs != "" && !validStream(c.Broker.Stream) {
		errs = append(errs, fmt.Errorf("-broker-stream %q: want 1..32 letters, digits, - or _", c.Broker.Stream))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("-log-format %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

func validStream(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Args renders c back into command-line flags, so the master can start workers with exactly its own settings.
// The token is left out: it travels in the environment, never in a process listing. So are the broker flags:
// only the master talks to the broker.
func (c *Config) Args() []string {
	return []string{
		"-listen", c.Listen, "-procs", fmt.Sprint(c.Procs), "-engine", c.Engine,
		"-hold-min", c.HoldMin.String(), "-hold-max", c.HoldMax.String(), "-tick", c.Tick.String(),
		"-header-timeout", c.HeaderTimeout.String(), "-idle-timeout", c.IdleTimeout.String(),
		"-drain-timeout", c.DrainTimeout.String(), "-max-heads", fmt.Sprint(c.MaxHeads),
		"-backlog", fmt.Sprint(c.Backlog), "-admin", c.Admin, "-max-message", fmt.Sprint(c.MaxMessage),
		"-keep", fmt.Sprint(c.Keep), "-log-format", c.LogFormat, "-log-level", c.LogLevel,
	}
}

// WorkerFiles are the descriptors a worker inherits from its master (see docs/interfaces.md).
const (
	ListenerFD = 3 // listening socket, shared accept queue
	StatsFD    = 4 // stats memfd
	ControlFD  = 5 // SOCK_SEQPACKET to the master; EOF means drain
)

// WorkerIndexEnv carries the worker's slot index.
const WorkerIndexEnv = "COMET_WORKER_INDEX"

// WorkerArg is the hidden first argument that makes the comet executable run as a worker.
const WorkerArg = "-netpoll-worker"

// Worker is what a worker process (either engine) gets from its master: its slot index, the inherited listener,
// its counters and the control socket (-1 when run without a master, as in tests).
type Worker struct {
	Index     int
	ListenFD  int
	Slot      stats.Slot
	ControlFD int
	Log       *logrus.Logger
}
