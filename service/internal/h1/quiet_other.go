//go:build !unix

package h1

// quiet reports whether an idle connection has no bytes left in its buffer (see
// the unix version, which also peeks at the socket).
func (c *h1Conn) quiet() bool { return c.br.Buffered() == 0 }
