package store

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	var l LogLimiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at             time.Duration
		wantOK         bool
		wantSuppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{2 * time.Second, false, 0},
		{logEvery, true, 2},
		{logEvery + time.Millisecond, false, 0},
		{3 * logEvery, true, 1},
	}
	for _, s := range steps {
		ok, n := l.Allow(t0.Add(s.at))
		if ok != s.wantOK || n != s.wantSuppressed {
			t.Errorf("allow at +%s = %v, %d; want %v, %d", s.at, ok, n, s.wantOK, s.wantSuppressed)
		}
	}
}
