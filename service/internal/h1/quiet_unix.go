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
	return c.socketQuiet()
}

// pending reports whether a connection whose exchange failed holds bytes of an
// answer not read yet, or the peer's close: the answer had come, or begun to,
// when the caller gave up on it.
func (c *h1Conn) pending() bool { return c.br.Buffered() > 0 || !c.socketQuiet() }

// socketQuiet peeks at the TCP socket, without waiting: it reports whether
// nothing is there to read, not even EOF. The peek goes through Control, not
// Read, so that a read deadline already past (an exchange that timed out) does
// not refuse it.
func (c *h1Conn) socketQuiet() bool {
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
	if err := rc.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	}); err != nil {
		return false
	}
	return quiet
}
