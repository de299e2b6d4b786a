package store

import (
	"sync"
	"time"
)

// logEvery is how often a repeated Redis problem is logged: an outage at thousands
// of requests per second yields a line every few seconds, each counting the rest.
const logEvery = 5 * time.Second

// LogLimiter lets one log line through per logEvery and counts the others. The
// zero value lets the first line through.
type LogLimiter struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// Allow reports whether to log now and how many lines were held back since the
// last one let through.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.next, l.suppressed = now.Add(logEvery), 0
	return true, n
}
