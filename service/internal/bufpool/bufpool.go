// Package bufpool is the one pool of byte buffers on the ad path: upstream
// answers being read, and SDK answers being written, borrow from it and give
// back.
package bufpool

import (
	"bytes"
	"sync"
)

// maxKept is the capacity above which a returned buffer is dropped rather than
// kept: one outsized answer must not pin its memory for good.
const maxKept = 256 << 10

var pool = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 2048)) }}

// Get returns an empty buffer.
func Get() *bytes.Buffer { return pool.Get().(*bytes.Buffer) }

// Put gives buf back for reuse; nil is ignored. The caller must not touch buf
// afterwards.
func Put(buf *bytes.Buffer) {
	if buf != nil && buf.Cap() <= maxKept {
		buf.Reset()
		pool.Put(buf)
	}
}
