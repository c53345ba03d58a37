package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Why a process: every comet process is the same executable, and a Go package's initialisation is paid by each
// one. Linking the NATS client into comet cost each worker ≈ 450 kB PSS (bench-mem at 100k: 274 → 316 B/conn);
// in its own executable, comet-broker, it costs one process, and nothing at all without -broker.

// Environment of the comet-broker process: the URL and the secrets never appear in a process listing.
const (
	EnvURLs     = "COMET_BROKER_URLS"
	EnvCreds    = "COMET_BROKER_CREDS"
	EnvUser     = "COMET_BROKER_USER"
	EnvPassword = "COMET_BROKER_PASSWORD"
	EnvToken    = "COMET_BROKER_TOKEN"
	EnvStream   = "COMET_BROKER_STREAM"
	EnvKeep     = "COMET_BROKER_KEEP"
	EnvAfter    = "COMET_BROKER_AFTER" // the last stream seq the master has: a restarted process carries on after it
)

// LinkFD is the descriptor comet-broker inherits its link to the master on.
const LinkFD = 3

// SidecarConfig starts comet-broker.
type SidecarConfig struct {
	Path string   // the comet-broker executable
	Args []string // its flags (log format and level)
	Env  []string // EnvURLs … EnvKeep as KEY=value (EnvAfter is added per start)
	Log  *logrus.Logger
}

// Sidecar is the master's end of comet-broker: a Broker whose connection lives in that process. It restarts the
// process when it exits, carrying on after the last stream message the master got.
type Sidecar struct {
	cfg     SidecarConfig
	deliver Deliver

	wmu  sync.Mutex // one packet write at a time
	mu   sync.Mutex // guards the fields below
	link *os.File   // nil while no process runs
	cmd  *exec.Cmd
	next uint64
	wait map[uint64]chan packet
	last uint64   // last stream seq delivered
	cur  Counters // the running process's counters
	base Counters // the sum over processes that exited

	stopping chan struct{}
	done     chan struct{}
}

// Spawn starts comet-broker and keeps it running until Close.
func Spawn(cfg SidecarConfig, deliver Deliver) (*Sidecar, error) {
	s := &Sidecar{cfg: cfg, deliver: deliver, wait: map[uint64]chan packet{}, stopping: make(chan struct{}), done: make(chan struct{})}
	exited, err := s.start()
	if err != nil {
		return nil, err
	}
	go s.supervise(exited)
	return s, nil
}

// start runs one comet-broker process; exited is closed once it is gone and its link drained.
func (s *Sidecar) start() (exited chan struct{}, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "broker-link"), os.NewFile(uintptr(fds[1]), "broker-link-child")
	defer theirs.Close()
	s.mu.Lock()
	after := s.last
	s.mu.Unlock()
	cmd := exec.Command(s.cfg.Path, s.cfg.Args...)
	cmd.Env = append(append(os.Environ(), s.cfg.Env...), EnvAfter+"="+strconv.FormatUint(after, 10))
	cmd.ExtraFiles = []*os.File{theirs} // fd 3 = LinkFD
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		mine.Close()
		return nil, fmt.Errorf("starting %s: %w", s.cfg.Path, err)
	}
	s.mu.Lock()
	s.link, s.cmd = mine, cmd
	s.mu.Unlock()
	exited = make(chan struct{})
	go func() {
		s.read(mine)
		cmd.Wait()
		s.mu.Lock()
		s.link, s.cmd = nil, nil
		s.base = sum(s.base, s.cur)
		s.cur = Counters{}
		for n, ch := range s.wait {
			ch <- packet{Kind: kindResult, Num: n, Unavail: true, Err: "comet-broker exited"}
			delete(s.wait, n)
		}
		s.mu.Unlock()
		mine.Close()
		close(exited)
	}()
	return exited, nil
}

func sum(a, b Counters) Counters {
	return Counters{Reconnects: a.Reconnects + b.Reconnects, In: a.In + b.In, Out: a.Out + b.Out, Dropped: a.Dropped + b.Dropped}
}

// read handles the process's packets until its end of the link closes.
func (s *Sidecar) read(link *os.File) {
	buf := make([]byte, maxPacket)
	for {
		n, err := link.Read(buf)
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.cfg.Log.WithError(err).Warn("broker link read failed")
			}
			return
		}
		p, err := decodePacket(buf[:n])
		if err != nil {
			s.cfg.Log.WithError(err).Warn("broker link: bad packet from comet-broker")
			continue
		}
		switch p.Kind {
		case kindMessage:
			s.mu.Lock()
			fresh := p.Msg.Seq > s.last
			if fresh {
				s.last = p.Msg.Seq
			}
			s.mu.Unlock()
			if fresh {
				s.deliver(p.Msg)
			}
		case kindResult:
			s.mu.Lock()
			if ch := s.wait[p.Num]; ch != nil {
				delete(s.wait, p.Num)
				ch <- p
			}
			s.mu.Unlock()
		case kindStatus:
			s.mu.Lock()
			s.cur = p.Status
			s.mu.Unlock()
		}
	}
}

// supervise restarts the process after it exits, with backoff, until Close.
func (s *Sidecar) supervise(exited chan struct{}) {
	defer close(s.done)
	failures := 0
	for {
		started := time.Now()
		select {
		case <-s.stopping:
			<-exited
			return
		case <-exited:
		}
		if time.Since(started) > time.Minute {
			failures = 0
		}
		failures++
		s.cfg.Log.WithField("restarts", failures).Warn("comet-broker exited; restarting it")
		for {
			select {
			case <-s.stopping:
				return
			case <-time.After(Backoff(failures)):
			}
			var err error
			if exited, err = s.start(); err == nil {
				break
			}
			s.cfg.Log.WithError(err).Error("comet-broker restart failed")
			failures++
		}
	}
}

// Publish sends m to comet-broker and waits for the stream's acknowledgement.
func (s *Sidecar) Publish(ctx context.Context, m Message) (uint64, error) {
	s.mu.Lock()
	link := s.link
	if link == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: comet-broker not running", ErrUnavailable)
	}
	s.next++
	n := s.next
	ch := make(chan packet, 1)
	s.wait[n] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.wait, n)
		s.mu.Unlock()
	}
	buf, err := appendPacket(nil, packet{Kind: kindRequest, Num: n, Msg: m})
	if err != nil {
		forget()
		return 0, err
	}
	s.wmu.Lock()
	_, err = link.Write(buf)
	s.wmu.Unlock()
	if err != nil {
		forget()
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	timer := time.NewTimer(PublishTimeout + time.Second) // comet-broker answers within PublishTimeout
	defer timer.Stop()
	select {
	case r := <-ch:
		switch {
		case r.Seq != 0:
			return r.Seq, nil
		case r.Unavail: // r.Err is comet-broker's ErrUnavailable, perhaps with the reason after it
			return 0, fmt.Errorf("%w%s", ErrUnavailable, strings.TrimPrefix(r.Err, ErrUnavailable.Error()))
		default:
			return 0, errors.New(r.Err)
		}
	case <-timer.C:
		forget()
		return 0, fmt.Errorf("%w: comet-broker did not answer", ErrUnavailable)
	case <-ctx.Done():
		forget()
		return 0, ctx.Err()
	}
}

// Counters sums the running process's counters and those of the processes before it.
func (s *Sidecar) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := sum(s.base, s.cur)
	c.Connected = s.link != nil && s.cur.Connected
	c.Goroutines = s.cur.Goroutines
	if s.cmd != nil && s.cmd.Process != nil {
		c.PID = s.cmd.Process.Pid
	}
	return c
}

// Close closes the link (comet-broker exits on EOF) and waits for the process, killing it after 5 s.
func (s *Sidecar) Close() {
	select {
	case <-s.stopping:
		<-s.done
		return
	default:
	}
	close(s.stopping)
	s.mu.Lock()
	link, cmd := s.link, s.cmd
	s.mu.Unlock()
	if link != nil {
		if rc, err := link.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_RDWR) })
		}
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		if cmd != nil {
			cmd.Process.Kill()
		}
		<-s.done
	}
}
