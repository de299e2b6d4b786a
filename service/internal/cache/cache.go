// Package cache is the in-process placement cache in front of the store: TTL and
// negative entries, one Redis read per missing key however many ask, stale
// answers while Redis fails, and the pub/sub subscription that drops or refreshes
// entries as writers announce changes.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/promreg"
	"asap/service/internal/store"
)

// Timings of the cache that are not configuration: they follow from the contract
// (a change is served within a second) rather than from the environment.
const (
	// loadTimeout bounds one Redis read shared by the callers of a miss, and a
	// refresh. The client's own dial/read/pool timeouts are shorter.
	loadTimeout = time.Second
	// retryInterval is how long after a failed refresh an entry is refreshed again,
	// so a Redis outage costs one read per entry per interval, not one per request.
	retryInterval = time.Second
	// pingInterval is how often an idle subscription PINGs Redis; a PING unanswered
	// for another interval means the connection is dead and is made again.
	pingInterval = time.Second
	// readyWindow is how recently Redis must have answered for Ready to hold
	// without entries in the cache.
	readyWindow = 5 * time.Second
	// revalidateWorkers bounds the reads in flight when every entry is re-read
	// after a reconnect.
	revalidateWorkers = 4
	// minBackoff and maxBackoff bound the wait between subscription attempts. The
	// cap is short because a change must reach every instance within a second of
	// Redis coming back (a 5 s cap delayed it by up to 5 s); an attempt on a Redis
	// that is down costs one refused dial.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

// Cache is the in-process placement cache in front of a Store. It implements
// Getter.
//
// A cache hit is a lock-free map lookup and sends nothing to Redis. Entries
// are trusted for the TTL; a pub/sub message (see Run) refreshes an entry at once,
// the TTL is the safety net for a lost message. After the TTL the entry is still
// answered while one background refresh per key reads Redis, so no request waits on
// Redis for a placement it has. When refreshes fail, the entry is served stale up to
// StaleMaxAge past its TTL. Concurrent misses for one pkey share one Redis read,
// unknown pkeys are remembered for NegativeTTL, and the cache holds at most
// MaxEntries entries: expired and negative entries go first, then the oldest.
//
// Placements returned by Get are shared by every caller and must not be modified.
type Cache struct {
	store *store.Store
	log   *slog.Logger
	met   *metrics

	ttl, negativeTTL, staleMaxAge int64 // nanoseconds
	maxEntries                    int
	// now returns the time in Unix nanoseconds; tests replace it.
	now func() int64
	// pingInterval is pingInterval; tests shorten it.
	pingInterval time.Duration

	// entries maps pkey to its *entry. Lookups take no lock, so cache hits on
	// several cores do not contend; every change happens under mu, which also
	// guards the two lists.
	entries    sync.Map
	mu         sync.Mutex
	placements list.List // of *entry with a placement, oldest fetched first
	negatives  list.List // of *entry of unknown pkeys, oldest first

	// gen is bumped by every change message. A miss whose read overlapped a bump is
	// answered but not cached: it may predate the change.
	gen atomic.Uint64
	// subGen is bumped by every (re)subscription, the first one included. A miss
	// whose read overlapped one may predate a message lost before it, and may be
	// cached after revalidate listed the entries to re-read: it is cached (so a
	// Redis outage right after start-up still finds it) and re-read at once.
	subGen atomic.Uint64
	group  singleflight.Group
	lastOK atomic.Int64 // when Redis last answered, by now()
	// lastErr is Redis's latest failure, for Ready's reason.
	lastErr      atomic.Pointer[error]
	readProblems store.LogLimiter
}

// entry is one cached answer for a pkey: a placement, or p == nil for a pkey that
// Redis does not hold or holds as an invalid record (invalid set; kept as briefly
// as a negative entry, so that a bad record costs one Redis read and one log line
// per ASAP_CACHE_NEGATIVE_TTL, not one per request). Entries are replaced, not updated, when a newer answer is
// read; the atomic fields coordinate the refresh of the current one.
type entry struct {
	key     string
	p       *placement.Placement
	invalid error        // with p == nil: Redis holds pkey, but not a valid placement
	expires atomic.Int64 // trusted until, by now(); lowered by a change message
	elem    *list.Element

	refreshing atomic.Bool  // one refresh per entry at a time
	dirty      atomic.Bool  // a change was announced: the running refresh reads again
	failed     atomic.Bool  // the last refresh failed: serving it is stale
	retryAt    atomic.Int64 // no refresh before this, after a failed one
}

func (e *entry) expire(now int64) {
	if e.expires.Load() > now {
		e.expires.Store(now)
	}
}

// NewCache returns a cache in front of store, configured by cfg, with its metrics
// registered on reg (nil registers none) and its problems logged to log (nil logs
// nothing). It panics when reg holds its metrics already: one cache per registry.
func NewCache(store *store.Store, cfg config.Cache, reg prometheus.Registerer, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		store:        store,
		log:          log,
		met:          newMetrics(),
		ttl:          int64(cfg.TTL),
		negativeTTL:  int64(cfg.NegativeTTL),
		staleMaxAge:  int64(max(cfg.StaleMaxAge, 0)),
		maxEntries:   max(cfg.MaxEntries, 1),
		now:          func() int64 { return time.Now().UnixNano() },
		pingInterval: pingInterval,
	}
	if err := promreg.Register(reg, "cache", c.met.collectors...); err != nil {
		panic(err) // one cache per registry, as documented
	}
	return c
}

// Get returns placement pkey from the cache, or reads it from Redis. It returns an
// error wrapping ErrNotFound when Redis does not hold pkey (or pkey is not a valid
// placement key), one wrapping ErrInvalid when Redis holds an invalid record and
// no good copy is cached, and one wrapping ErrUnavailable when Redis cannot answer
// and no entry is fresh enough to serve.
func (c *Cache) Get(ctx context.Context, pkey string) (*placement.Placement, error) {
	if v, ok := c.entries.Load(pkey); ok {
		e := v.(*entry)
		now := c.now()
		expires := e.expires.Load()
		switch {
		case e.p == nil:
			if now < expires {
				c.met.negative.Inc()
				if e.invalid != nil {
					return nil, e.invalid
				}
				return nil, placement.ErrNotFound
			}
		case now < expires:
			c.met.hits.Inc()
			return e.p, nil
		case now-expires < c.staleMaxAge:
			if now >= e.retryAt.Load() {
				c.startRefresh(e)
			}
			if e.failed.Load() {
				c.met.stale.Inc()
			} else {
				c.met.hits.Inc() // refreshing after the TTL, Redis is healthy
			}
			return e.p, nil
		}
	}
	return c.load(ctx, pkey)
}

// load reads pkey from Redis for every caller that misses it at the same time.
func (c *Cache) load(ctx context.Context, pkey string) (*placement.Placement, error) {
	if !placement.ValidKey(pkey) {
		return nil, fmt.Errorf("pkey %q: %w", pkey, placement.ErrNotFound)
	}
	c.met.misses.Inc()
	// The shared read must not fail because the first caller gave up: it runs on
	// its own deadline, and each caller waits only as long as its own context lets it.
	shared := context.WithoutCancel(ctx)
	ch := c.group.DoChan(pkey, func() (any, error) {
		gen, sub := c.gen.Load(), c.subGen.Load()
		ctx, cancel := context.WithTimeout(shared, loadTimeout)
		defer cancel()
		p, err := c.read(ctx, pkey)
		if errors.Is(err, placement.ErrInvalid) {
			c.mu.Lock()
			if c.gen.Load() == gen {
				c.addLocked(&entry{key: pkey, invalid: err})
			}
			c.mu.Unlock()
			return nil, err
		}
		if err != nil && !errors.Is(err, placement.ErrNotFound) {
			c.mu.Lock()
			if old := c.lookupLocked(pkey); old != nil && old.p != nil && c.now()-old.expires.Load() >= c.staleMaxAge {
				c.removeLocked(old) // too old to serve, and Redis cannot replace it
			}
			c.mu.Unlock()
			return nil, err
		}
		var e *entry
		c.mu.Lock()
		if c.gen.Load() == gen {
			e = c.insertLocked(pkey, p)
		}
		c.mu.Unlock()
		if e != nil && c.subGen.Load() != sub {
			c.markChanged(e)
		}
		return p, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*placement.Placement), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("read placement %q: %w: %w", pkey, placement.ErrUnavailable, ctx.Err())
	}
}

// read is Store.Get with metrics.
func (c *Cache) read(ctx context.Context, pkey string) (*placement.Placement, error) {
	start := time.Now()
	p, err := c.store.Get(ctx, pkey)
	c.met.readSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		c.lastOK.Store(c.now())
		if p.AdProblem != nil {
			c.met.invalidAd.Inc()
			c.log.Error("placement record in Redis has an invalid ad section; GET /v2/ad answers 204 for it", "pkey", pkey, "err", p.AdProblem)
		}
	case errors.Is(err, placement.ErrNotFound):
		c.lastOK.Store(c.now())
	case errors.Is(err, placement.ErrInvalid):
		c.lastOK.Store(c.now())
		c.met.invalidRecord.Inc()
		c.log.Error("placement record in Redis is invalid; serving the last good copy if any", "pkey", pkey, "err", err)
	default:
		c.met.readErrors.Inc()
		c.noteFailure(err)
		if ok, n := c.readProblems.Allow(time.Unix(0, c.now())); ok {
			c.log.Warn("placement read from Redis failed (cached placements are served meanwhile)",
				"pkey", pkey, "err", err, "problem", store.Problem(err), "similar_since_last", n)
		}
	}
	return p, err
}

// insertLocked caches p (nil: pkey is unknown) as the current answer for pkey and
// enforces the size bound. c.mu must be held for writing.
func (c *Cache) insertLocked(pkey string, p *placement.Placement) *entry {
	return c.addLocked(&entry{key: pkey, p: p})
}

// addLocked caches e, a new entry, in place of any entry of e.key, and enforces
// the size bound. c.mu must be held for writing.
func (c *Cache) addLocked(e *entry) *entry {
	now := c.now()
	pkey, p := e.key, e.p
	if old := c.lookupLocked(pkey); old != nil {
		c.removeLocked(old)
	}
	if p == nil {
		e.expires.Store(now + c.negativeTTL)
		e.elem = c.negatives.PushBack(e)
	} else {
		e.expires.Store(now + c.ttl)
		e.elem = c.placements.PushBack(e)
	}
	c.entries.Store(pkey, e)
	c.evictLocked(now)
	return e
}

// lookupLocked returns the entry of pkey or nil. c.mu must be held.
func (c *Cache) lookupLocked(pkey string) *entry {
	if v, ok := c.entries.Load(pkey); ok {
		return v.(*entry)
	}
	return nil
}

func (c *Cache) removeLocked(e *entry) {
	if e.p == nil {
		c.negatives.Remove(e.elem)
	} else {
		c.placements.Remove(e.elem)
	}
	c.entries.Delete(e.key)
	c.met.entries.Set(float64(c.placements.Len()))
	c.met.negativeEntries.Set(float64(c.negatives.Len()))
}

// evictLocked drops expired negative entries and placements too old to serve even
// stale, then, beyond MaxEntries, negative entries before placements, oldest first:
// a flood of unknown pkeys cannot push out live placements.
func (c *Cache) evictLocked(now int64) {
	for f := c.negatives.Front(); f != nil && f.Value.(*entry).expires.Load() <= now; f = c.negatives.Front() {
		c.removeLocked(f.Value.(*entry))
	}
	for f := c.placements.Front(); f != nil && now-f.Value.(*entry).expires.Load() >= c.staleMaxAge; f = c.placements.Front() {
		c.removeLocked(f.Value.(*entry))
	}
	for c.placements.Len()+c.negatives.Len() > c.maxEntries {
		f := c.negatives.Front()
		if f == nil {
			f = c.placements.Front()
		}
		c.removeLocked(f.Value.(*entry))
		c.met.evictions.Inc()
	}
	c.met.entries.Set(float64(c.placements.Len()))
	c.met.negativeEntries.Set(float64(c.negatives.Len()))
}

// startRefresh re-reads e in the background unless a refresh of e is running.
func (c *Cache) startRefresh(e *entry) {
	if e.refreshing.CompareAndSwap(false, true) {
		go c.refresh(e)
	}
}

// refresh re-reads e and replaces it with the answer. The caller has set
// e.refreshing. When a change is announced while it reads, the new entry is
// refreshed again, so the answer cached last is read after the last message.
func (c *Cache) refresh(e *entry) {
	defer e.refreshing.Store(false)
	e.dirty.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	p, err := c.read(ctx, e.key)
	if err != nil && !errors.Is(err, placement.ErrNotFound) {
		c.met.refreshFailed.Inc()
		e.failed.Store(true)
		e.retryAt.Store(c.now() + int64(retryInterval))
		c.log.Debug("placement refresh failed; serving the cached copy", "pkey", e.key, "err", err)
		return
	}
	c.met.refreshOK.Inc()
	var fresh *entry
	c.mu.Lock()
	if c.lookupLocked(e.key) == e { // else evicted or replaced by a newer answer
		fresh = c.insertLocked(e.key, p)
	}
	c.mu.Unlock()
	if fresh != nil && e.dirty.Load() {
		// A change message marked e while this read was in flight; the read may
		// predate the write it announced.
		c.markChanged(fresh)
	}
}

// markChanged makes e due for a refresh now and starts one.
func (c *Cache) markChanged(e *entry) {
	e.dirty.Store(true)
	e.expire(c.now())
	e.retryAt.Store(0)
	c.startRefresh(e)
}

// changed handles a change message for pkey: a cached placement is refreshed in
// the background (and answered meanwhile), a negative entry is dropped, and no
// answer read before the message is cached.
func (c *Cache) changed(pkey string) {
	c.gen.Add(1)
	c.mu.Lock()
	e := c.lookupLocked(pkey)
	if e != nil && e.p == nil {
		c.removeLocked(e)
		e = nil
	}
	if e != nil {
		// Marked under the lock so that a refresh replacing e sees the mark (see refresh).
		e.dirty.Store(true)
		e.expire(c.now())
		e.retryAt.Store(0)
	}
	c.mu.Unlock()
	if e != nil {
		c.startRefresh(e)
	}
}

// revalidate re-reads every cached placement, after a resubscription: messages
// sent while the subscription was down are lost. Negative entries are dropped.
func (c *Cache) revalidate(ctx context.Context) {
	c.subGen.Add(1)
	c.mu.Lock()
	for f := c.negatives.Front(); f != nil; f = c.negatives.Front() {
		c.removeLocked(f.Value.(*entry))
	}
	all := make([]*entry, 0, c.placements.Len())
	for el := c.placements.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		e.dirty.Store(true)
		all = append(all, e)
	}
	c.mu.Unlock()
	if len(all) == 0 {
		return
	}
	c.log.Info("re-reading cached placements after (re)subscribing", "entries", len(all))
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range revalidateWorkers {
		wg.Go(func() {
			for e := range work {
				// A running refresh sees the dirty mark and reads again itself.
				if e.refreshing.CompareAndSwap(false, true) {
					c.refresh(e)
				}
			}
		})
	}
feed:
	for _, e := range all {
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// Run subscribes to the store's channel and handles change messages until ctx is
// done; then it returns nil. A lost subscription is made again with backoff, and
// after every (re)subscription every cached entry is re-read, since messages may
// have been lost meanwhile. The subscription follows the topology: after a failure
// a cluster client reloads its slot map first (the channel's node may have been
// replaced by its replica), and a Sentinel's announcement of a new master moves the
// subscription at once. Run also keeps Ready informed: the subscription PINGs
// Redis every second while idle.
func (c *Cache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	resubscribed := make(chan struct{}, 1)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-resubscribed:
				c.revalidate(ctx)
			}
		}
	})
	backoff := minBackoff
	first := true
	var problems store.LogLimiter
	for {
		subscribed, err := c.listen(ctx, &first, resubscribed)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errMasterSwitched) {
			backoff = minBackoff
			continue // the new master is known: no wait
		}
		c.met.subscribeErrors.Inc()
		c.noteFailure(err)
		c.store.Rediscover(ctx)
		what := "placement changes: cannot subscribe; retrying (cached placements are served meanwhile)"
		if subscribed {
			backoff = minBackoff
			what = "placement changes: subscription lost; subscribing again"
		}
		if ok, n := problems.Allow(time.Now()); ok || subscribed {
			c.log.Warn(what, "channel", c.store.Channel(), "err", err, "problem", store.Problem(err), "retry_in", backoff, "similar_since_last", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// errMasterSwitched ends a subscription when Sentinel announces a new master.
var errMasterSwitched = errors.New("a Sentinel announced a new master")

// listen runs one subscription until it fails, the master switches or ctx is done.
// It reports whether the subscription was confirmed.
func (c *Cache) listen(ctx context.Context, first *bool, resubscribed chan<- struct{}) (subscribed bool, err error) {
	switched := c.store.MasterSwitched() // before subscribing: a switch meanwhile counts
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if switched != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-switched:
				cancel(errMasterSwitched)
			case <-stop:
			}
		}()
	}
	ps := c.store.Client().Subscribe(ctx, c.store.Channel())
	defer ps.Close()
	subscribed, err = store.Receive(ctx, ps, c.pingInterval, func(msg any) {
		c.lastOK.Store(c.now())
		switch m := msg.(type) {
		case *redis.Message:
			c.met.messages.Inc()
			if !placement.ValidKey(m.Payload) {
				c.log.Warn("placement changes: ignoring a message that is not a pkey", "channel", m.Channel, "len", len(m.Payload))
				return
			}
			c.changed(m.Payload)
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				return
			}
			if !*first {
				c.met.reconnects.Inc()
				c.log.Info("placement changes: subscribed again", "channel", c.store.Channel())
			}
			*first = false
			select {
			case resubscribed <- struct{}{}:
			default: // a re-read is already due
			}
		}
	})
	if cause := context.Cause(ctx); errors.Is(cause, errMasterSwitched) {
		return subscribed, cause
	}
	return subscribed, err
}

// noteFailure remembers err as Redis's latest failure, for Ready's reason.
func (c *Cache) noteFailure(err error) {
	if store.Failed(err) {
		c.lastErr.Store(&err)
	}
}

// Ready reports whether the cache can answer: nil when Redis answered within the
// last few seconds (a read, or the subscription's PING) or the cache holds
// placements. Only when neither holds does it ask Redis, with a PING bounded by
// ctx, and then its error says why placements cannot be served, in words fit for
// /readyz (see Problem): a refused password is not "Redis does not answer".
func (c *Cache) Ready(ctx context.Context) error {
	if c.now()-c.lastOK.Load() < int64(readyWindow) {
		return nil
	}
	c.mu.Lock()
	n := c.placements.Len()
	c.mu.Unlock()
	if n > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	err := c.store.Client().Ping(ctx).Err()
	if err == nil {
		c.lastOK.Store(c.now())
		return nil
	}
	if last := c.lastErr.Load(); errors.Is(err, context.DeadlineExceeded) && last != nil {
		err = *last // the PING ran out of time; the last failure says more
	}
	return errors.New(store.Problem(err) + ", and the placement cache is cold")
}
