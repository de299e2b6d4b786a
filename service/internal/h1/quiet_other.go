//go:build !unix

package h1

// quiet reports whether an idle connection has no bytes left in its buffer (see
// the unix version, which also peeks at the socket).
func (c *h1Conn) quiet() bool { return c.br.Buffered() == 0 }

// pending reports whether a failed exchange's connection has bytes of an answer
// left in its buffer (see the unix version, which also peeks at the socket).
func (c *h1Conn) pending() bool { return c.br.Buffered() > 0 }
