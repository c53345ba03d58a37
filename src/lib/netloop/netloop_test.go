package netloop

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"
)

func TestParseAddr4(t *testing.T) {
	tests := []struct {
		in      string
		ip      [4]byte
		port    int
		wantErr bool
	}{
		{":11181", [4]byte{}, 11181, false},
		{"[::ffff:10.0.0.1]:80", [4]byte{}, 0, true}, // IPv4-mapped IPv6 is not IPv4
		{"127.0.0.1:80", [4]byte{127, 0, 0, 1}, 80, false},
		{"10.77.1.6:0", [4]byte{10, 77, 1, 6}, 0, false},
		{"127.0.0.1", [4]byte{}, 0, true},
		{"[::1]:80", [4]byte{}, 0, true},
		{"localhost:80", [4]byte{}, 0, true},
		{"127.0.0.1:70000", [4]byte{}, 0, true},
	}
	for _, tc := range tests {
		ip, port, err := ParseAddr4(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (ip != tc.ip || port != tc.port) {
			t.Errorf("%q: got %v:%d", tc.in, ip, port)
		}
	}
}

func newLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestTickerAndWakerRunOnLoop(t *testing.T) {
	l := newLoop(t)
	var ticks, wakes atomic.Int32
	stop, err := l.Ticker(10*time.Millisecond, func() { ticks.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	woken := make(chan struct{}, 1)
	wake, err := l.Waker(func() {
		wakes.Add(1)
		select {
		case woken <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	wake()
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("waker callback never ran")
	}
	deadline := time.Now().Add(5 * time.Second)
	for ticks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ticks.Load() < 3 {
		t.Fatalf("ticker ran %d times in 5 s", ticks.Load())
	}
	stop()
	after := ticks.Load()
	time.Sleep(50 * time.Millisecond)
	if got := ticks.Load(); got > after+1 {
		t.Errorf("ticker kept running after stop: %d -> %d", after, got)
	}
	if _, err := l.Ticker(0, func() {}); err == nil {
		t.Error("zero interval accepted")
	}
}

func TestDialFromExplicitPortAndAccept(t *testing.T) {
	lfd, err := Listen("127.0.0.1:0", 16, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	port, err := LocalPort(lfd)
	if err != nil {
		t.Fatal(err)
	}
	l := newLoop(t)
	accepted := make(chan int, 1)
	if err := l.Add(lfd, In, func(ev netpoll.EpollEvent) {
		if fd, err := Accept(lfd); err == nil {
			accepted <- fd
		}
	}); err != nil {
		t.Fatal(err)
	}
	srcPort := 40000 + int(time.Now().UnixNano()%5000)
	cfd, err := DialFrom([4]byte{127, 0, 0, 2}, srcPort, [4]byte{127, 0, 0, 1}, port)
	if err != nil {
		t.Fatalf("DialFrom: %v", err)
	}
	defer unix.Close(cfd)
	var sfd int
	select {
	case sfd = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	defer unix.Close(sfd)
	peer, err := unix.Getpeername(sfd)
	if err != nil {
		t.Fatal(err)
	}
	in4 := peer.(*unix.SockaddrInet4)
	if in4.Port != srcPort || in4.Addr != [4]byte{127, 0, 0, 2} {
		t.Errorf("peer = %v:%d, want 127.0.0.2:%d", in4.Addr, in4.Port, srcPort)
	}
	flags, err := unix.FcntlInt(uintptr(sfd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Errorf("accepted fd is not non-blocking (flags %#x, %v)", flags, err)
	}
	if err := l.Del(lfd); err != nil {
		t.Errorf("Del: %v", err)
	}
}

func TestConnectRefusedShowsInSockErr(t *testing.T) {
	lfd, err := Listen("127.0.0.1:0", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := LocalPort(lfd)
	unix.Close(lfd) // nothing listens on port any more
	fd, err := DialFrom([4]byte{127, 0, 0, 1}, 0, [4]byte{127, 0, 0, 1}, port)
	if err != nil {
		if !errors.Is(err, unix.ECONNREFUSED) {
			t.Fatalf("DialFrom: %v", err)
		}
		return
	}
	defer unix.Close(fd)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if _, err := unix.Poll(pfd, 5000); err != nil {
		t.Fatal(err)
	}
	if err := SockErr(fd); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("SockErr = %v, want ECONNREFUSED", err)
	}
}

func TestParseIPv4(t *testing.T) {
	tests := []struct {
		in   string
		want [4]byte
		ok   bool
	}{
		{"10.0.0.1", [4]byte{10, 0, 0, 1}, true},
		{"127.0.0.2", [4]byte{127, 0, 0, 2}, true},
		{"0.0.0.0", [4]byte{}, true},
		{"::ffff:10.0.0.1", [4]byte{}, false}, // IPv4-mapped IPv6
		{"::1", [4]byte{}, false},
		{"10.0.0", [4]byte{}, false},
		{"10.0.0.256", [4]byte{}, false},
		{"", [4]byte{}, false},
	}
	for _, tc := range tests {
		got, err := ParseIPv4(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseIPv4(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}
