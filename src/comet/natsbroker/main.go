package natsbroker

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/comet-lab/comet-lab/src/comet/broker"
	"github.com/sirupsen/logrus"
)

// Main is the comet-broker process the comet master starts with -broker: the NATS connection on the link the
// master passes as fd 3, configured from the environment (broker.Env…: the URL and secrets stay out of the process
// listing). It exits 0 when the master closes the link, 1 on failure, 2 on bad flags or environment.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("comet-broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: comet-broker [flags]\n\nStarted by comet -broker, never by hand: the master's link is fd %d, the "+
			"configuration is in $%s and the other COMET_BROKER_* variables.\n\nFlags:\n", broker.LinkFD, broker.EnvURLs)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := logrus.New()
	log.SetOutput(stderr)
	lvl, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "comet-broker: -log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	log.SetLevel(lvl)
	if *logFormat == "json" {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	}
	cfg, err := configFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "comet-broker: %v\n", err)
		return 2
	}
	cfg.Log = log
	// Ctrl-C reaches the whole process group: the master drains, then closes the link, which ends this process.
	signal.Ignore(syscall.SIGINT)
	link := os.NewFile(broker.LinkFD, "broker-link")
	err = broker.Serve(link, func(d broker.Deliver) (broker.Broker, error) { return Connect(cfg, d) }, log)
	if err != nil {
		log.WithError(err).Error("comet-broker failed")
		return 1
	}
	return 0
}

// configFromEnv reads the connection settings the master put in the environment.
func configFromEnv() (Config, error) {
	cfg := Config{
		URLs: os.Getenv(broker.EnvURLs), CredsFile: os.Getenv(broker.EnvCreds), User: os.Getenv(broker.EnvUser),
		Password: os.Getenv(broker.EnvPassword), Token: os.Getenv(broker.EnvToken), Stream: os.Getenv(broker.EnvStream),
	}
	if _, err := broker.ParseURLs(cfg.URLs); err != nil {
		return cfg, fmt.Errorf("$%s: %w", broker.EnvURLs, err)
	}
	keep, err := envUint(broker.EnvKeep)
	if err != nil {
		return cfg, err
	}
	cfg.Keep = int(min(keep, 1<<20))
	cfg.After, err = envUint(broker.EnvAfter)
	if err != nil {
		return cfg, err
	}
	return cfg, nil
}

// envUint reads a number from the environment (0 when unset).
func envUint(name string) (uint64, error) {
	s := os.Getenv(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("$%s=%q: want a number", name, s)
	}
	return n, nil
}
