// Package natstest runs a NATS server with JetStream inside the test process on a loopback port, so a test can
// stop and start the broker at will (the port and the stream's store survive a restart).
package natstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/testkit/workertest"
	"github.com/nats-io/nats-server/v2/server"
)

// Server is one in-process nats-server.
type Server struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// Start runs a server with JetStream (file store in a test directory) on a free loopback port; the test's cleanup
// stops it.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, opts: server.Options{
		Host: "127.0.0.1", Port: workertest.FreePort(t), JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	}}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://%s:%d", s.opts.Host, s.opts.Port) }

// Stop shuts the server down and waits until it has (a no-op when stopped).
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts the server again (or for the first time) on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	opts := s.opts // the server keeps a pointer and fills in defaults: give each run its own copy
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatalf("nats-server on %s not ready within 10s", s.URL())
	}
	s.srv = srv
}
