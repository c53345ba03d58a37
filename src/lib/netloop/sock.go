package netloop

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseAddr4 parses "host:port" (host empty or an IPv4 literal) into its parts.
func ParseAddr4(addr string) (ip [4]byte, port int, err error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ip, 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return ip, 0, fmt.Errorf("address %q: port must be 0-65535", addr)
	}
	if host == "" {
		return ip, port, nil
	}
	if ip, err = ParseIPv4(host); err != nil {
		return ip, 0, fmt.Errorf("address %q: host must be an IPv4 literal", addr)
	}
	return ip, port, nil
}

// ParseIPv4 parses a dotted IPv4 literal; IPv6 forms, IPv4-mapped ones included, are refused.
func ParseIPv4(s string) (ip [4]byte, err error) {
	parsed := net.ParseIP(s).To4()
	if parsed == nil || strings.Contains(s, ":") {
		return ip, fmt.Errorf("%q is not an IPv4 address", s)
	}
	copy(ip[:], parsed)
	return ip, nil
}

// FreePort asks the kernel for a TCP port on 127.0.0.1 that is free at this moment (released at once, for a process
// about to be started; a race with other programs is unlikely).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Listen opens a non-blocking, close-on-exec IPv4 TCP listener. reusePort lets several processes bind the port.
func Listen(addr string, backlog int, reusePort bool) (int, error) {
	ip, port, err := ParseAddr4(addr)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("listen %s: socket: %w", addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: SO_REUSEADDR: %w", addr, err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen %s: SO_REUSEPORT: %w", addr, err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: ip}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: bind: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", addr, err)
	}
	return fd, nil
}

// LocalPort reports the port a socket is bound to (for listeners on port 0 in tests).
func LocalPort(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	if in4, ok := sa.(*unix.SockaddrInet4); ok {
		return in4.Port, nil
	}
	return 0, fmt.Errorf("socket %d is not IPv4", fd)
}

// Accept takes one connection as a non-blocking, close-on-exec fd. It passes no sockaddr buffer, so it does not
// allocate (unix.Accept4 allocates a Sockaddr per call).
func Accept(lfd int) (int, error) {
	for {
		fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0,
			uintptr(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

// DialFrom starts a non-blocking connect from an explicit source address and port (SO_REUSEADDR set, so ports in
// TIME_WAIT can be reused). It returns as soon as the connect is in progress; completion shows as writability,
// then SockErr tells the outcome. Choosing the port here avoids the kernel's port search in connect(), which
// crawls once hundreds of thousands of ports are taken.
func DialFrom(src [4]byte, srcPort int, dst [4]byte, dstPort int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: srcPort, Addr: src}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: dstPort, Addr: dst})
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// SockErr returns the pending socket error (the outcome of a non-blocking connect).
func SockErr(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}
