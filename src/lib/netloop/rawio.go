package netloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Write is write(2) on a non-blocking fd. It never blocks, so it goes without the runtime's syscall bookkeeping
// (entersyscall/exitsyscall): that is cheaper per call, and sysmon never sees the P in a syscall and hands it to
// another thread (futex wake-ups and thread switches that cost as much as the write itself). EINTR is retried.
func Write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// Read is read(2) on a non-blocking fd, raw for the same reasons as Write; b must not be empty.
//
// Edge-triggered readers (comet's workers, flood) stop after a short read: the receive queue was empty at that
// moment and any later data raises a new edge, so the read that would only say EAGAIN is skipped, one syscall per
// message saved. Only after a hang-up or error event do they read on to see EOF or the error.
func Read(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
