package app

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushInterval bounds how long an access-log line waits in the buffer.
const logFlushInterval = 100 * time.Millisecond

// logWriter is the process's log output. Only the access log (AccessLog) is
// buffered, so that it costs no system call per request: its lines wait up to the
// flush interval, or until the buffer fills. Every other line (Write: the logger's,
// warnings and errors among them) is written at once, behind the access-log lines
// buffered before it, so the output keeps the order of the writes and a crash, an
// OOM kill or a SIGKILL loses at most one interval of access-log lines, never an
// error.
//
// Close writes out the buffer; lines written after it go straight through. slog
// handlers write each record with one Write, so lines never interleave.
type logWriter struct {
	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// newLogWriter writes to w (nil: nowhere) and flushes the access log every
// interval (0: logFlushInterval).
func newLogWriter(w io.Writer, interval time.Duration) *logWriter {
	if w == nil {
		w = io.Discard
	}
	if interval <= 0 {
		interval = logFlushInterval
	}
	l := &logWriter{out: w, buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushEvery(interval)
	return l
}

// Write writes p at once, after the access-log lines buffered before it.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Buffered() == 0 {
		return l.out.Write(p)
	}
	// One system call for both while they fit in the buffer.
	n, err := l.buf.Write(p)
	if err == nil {
		err = l.buf.Flush()
	}
	l.recover(err)
	return n, err
}

// AccessLog returns the buffered writer for access-log lines.
func (l *logWriter) AccessLog() io.Writer { return accessLog{l} }

type accessLog struct{ l *logWriter }

// Write buffers p, or writes it at once after Close.
func (a accessLog) Write(p []byte) (int, error) {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.out.Write(p)
	}
	n, err := l.buf.Write(p)
	l.recover(err)
	return n, err
}

// recover resets the buffer after a failed write: bufio.Writer keeps its first
// error and would refuse every later line, so one failed write to stderr would
// silence the process for good. What the buffer held is lost. l.mu is held.
func (l *logWriter) recover(err error) {
	if err != nil {
		l.buf.Reset(l.out)
	}
}

func (l *logWriter) flushEvery(d time.Duration) {
	defer close(l.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *logWriter) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.buf.Flush()
	l.recover(err)
	return err
}

// Close writes out what is buffered and stops the flushing goroutine; later
// lines are written at once. It may be called more than once.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.buf.Flush()
	l.recover(err)
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return err
}
