package proxy

import (
	"errors"
	"net"
	"syscall"
)

// quietConn reports whether an idle connection to a pod may carry the next request: nothing has
// arrived on it since its last response, and the pod has not closed it. Bytes there would be read
// as the next request's response (a pod that sends a body with a HEAD, 204 or 304 answer, or
// more than its Content-Length): one client would get another's answer. net/http's Transport
// closes such a connection too ("Unsolicited response received on idle HTTP channel"). The check
// is a non-blocking MSG_PEEK of one byte: it consumes nothing.
func quietConn(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true // not a socket (tests): nothing to check
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	quiet := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing waiting, the connection is open. n == 0 without error: the pod closed
		// it. n > 0: unsolicited bytes. Any other error: unusable.
		quiet = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK))
		return true // never wait for readiness
	})
	return err == nil && quiet
}
