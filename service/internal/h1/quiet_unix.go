//go:build unix

package h1

import "syscall"

// quiet reports whether an idle connection has nothing to read: no bytes left in
// its buffer and none waiting in the socket. Bytes there are an answer that no
// request asked for (an upstream out of step with its requests, which would
// otherwise hand the next SDK the answer meant for another); EOF there is an
// upstream that closed the connection. Either way the connection is not reused.
// The socket is peeked without waiting: one system call. Under TLS the TCP
// socket is peeked: a close_notify alert or a FIN is there as bytes or EOF.
func (c *h1Conn) quiet() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return true // not a socket (tests); the answer's parse catches the rest
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	quiet := false
	var b [1]byte
	rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait for the socket to become readable
	})
	return quiet
}
