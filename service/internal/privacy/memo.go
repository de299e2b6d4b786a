package privacy

import (
	"sync"

	"asap/service/internal/consent"
)

// memo caches decoded strings, bounded by an estimate of the memory they hold.
// When an entry would not fit, the cache starts over empty: a simple bound that
// keeps the strings of the moment, which is what an app's users send.
type memo[T any] struct {
	decode func(string) (T, error)
	cost   func(*T) int
	max    int

	mu    sync.Mutex
	size  int
	items map[string]memoEntry[T]
}

type memoEntry[T any] struct {
	v   *T
	err error
}

func newMemo[T any](max int, decode func(string) (T, error), cost func(*T) int) *memo[T] {
	return &memo[T]{decode: decode, cost: cost, max: max, items: map[string]memoEntry[T]{}}
}

// get returns s decoded, from the cache when it holds it. The value is shared:
// callers only read it.
func (m *memo[T]) get(s string) (*T, error) {
	if m.max <= 0 {
		return m.decodeOne(s)
	}
	m.mu.Lock()
	e, ok := m.items[s]
	m.mu.Unlock()
	if ok {
		return e.v, e.err
	}
	v, err := m.decodeOne(s)
	cost := len(s) + 64
	if v != nil {
		cost += m.cost(v)
	}
	if cost > m.max {
		return v, err
	}
	m.mu.Lock()
	if m.size+cost > m.max {
		clear(m.items)
		m.size = 0
	}
	if _, ok := m.items[s]; !ok {
		m.items[s] = memoEntry[T]{v, err}
		m.size += cost
	}
	m.mu.Unlock()
	return v, err
}

func (m *memo[T]) decodeOne(s string) (*T, error) {
	v, err := m.decode(s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// tcfCost estimates the memory of a decoded TC string beyond the string itself.
func tcfCost(t *consent.TCF) int {
	n := 256 + 16*(t.VendorConsents.Ranges()+t.VendorLI.Ranges())
	for _, r := range t.Restrictions {
		n += 64 + 16*r.Vendors.Ranges()
	}
	return n
}

// gppCost estimates the memory of a decoded GPP string beyond the string itself.
func gppCost(g *consent.GPP) int {
	n := 128 + 8*len(g.SectionIDs) + 96*len(g.US)
	if g.TCFEUv2 != nil {
		n += tcfCost(g.TCFEUv2)
	}
	return n
}
