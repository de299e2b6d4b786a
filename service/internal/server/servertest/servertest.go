// Package servertest provides an in-memory placement.Getter for tests of HTTP
// handlers that should not need Redis.
package servertest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

// Placements is a placement.Getter over a map. Its zero value holds nothing; it is
// safe for concurrent use.
type Placements struct {
	mu    sync.Mutex
	m     map[string]*placement.Placement
	err   error
	gate  chan struct{}
	calls int
}

// Samples returns Placements holding the sample placements of
// internal/placement/samples (demo-feed, demo-article, demo-paused).
func Samples(t testing.TB) *Placements {
	t.Helper()
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		t.Fatalf("samples: %v", err)
	}
	p := &Placements{}
	for i := range list {
		p.Set(&list[i])
	}
	return p
}

// Set stores pl under its pkey.
func (p *Placements) Set(pl *placement.Placement) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*placement.Placement{}
	}
	p.m[pl.PKey] = pl
}

// Fail makes every Get return err (wrap placement.ErrUnavailable to mimic a Redis
// outage); nil restores normal answers.
func (p *Placements) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// Block makes every Get wait until the returned release function is called or
// the caller's context ends.
func (p *Placements) Block() (release func()) {
	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			if p.gate == gate {
				p.gate = nil
			}
			p.mu.Unlock()
			close(gate)
		})
	}
}

// Calls returns how many times Get was called.
func (p *Placements) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Get implements placement.Getter.
func (p *Placements) Get(ctx context.Context, pkey string) (*placement.Placement, error) {
	p.mu.Lock()
	p.calls++
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("servertest: %w: %w", placement.ErrUnavailable, ctx.Err())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	pl, ok := p.m[pkey]
	if !ok {
		return nil, fmt.Errorf("servertest: %q: %w", pkey, placement.ErrNotFound)
	}
	return pl, nil
}
