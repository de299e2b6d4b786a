// Package store is the Redis side of placements: the records under
// <prefix>placement:<pkey>, the change channel <prefix>placements they are announced
// on, and the go-redis client (single node, Sentinel or cluster) built from the
// configuration. redis.Nil becomes placement.ErrNotFound here and nowhere else.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement"
)

// Store reads and writes placements in Redis. The key of placement pkey is
// <prefix>placement:<pkey> and holds the placement's JSON; writers publish pkey on
// <prefix>placements after every change (see Put), which is how every ASAP instance
// learns of it.
//
// Store is the only place where redis.Nil is seen: it becomes ErrNotFound. Every
// other failure is wrapped in ErrUnavailable.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	history string
	channel string
}

// NewStore returns a store of the placements under keyPrefix (for example "asap:").
func NewStore(client redis.UniversalClient, keyPrefix string) *Store {
	return &Store{client: client, prefix: keyPrefix + "placement:", history: keyPrefix + "placement-history:", channel: keyPrefix + "placements"}
}

// Key returns the Redis key of placement pkey.
func (s *Store) Key(pkey string) string { return s.prefix + pkey }

// Channel returns the pub/sub channel on which changed pkeys are published.
func (s *Store) Channel() string { return s.channel }

// Client returns the Redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Rediscover makes the client look up where the data lives now, after a failure
// that may mean the topology changed: a cluster client reloads its slot map in the
// background (go-redis waits for a MOVED, which a dead node never sends, or for its
// reload interval). Other clients look up nothing.
func (s *Store) Rediscover(ctx context.Context) {
	if c, ok := s.client.(*redis.ClusterClient); ok {
		c.ReloadState(ctx)
	}
}

// MasterSwitched returns a channel that is closed when Sentinel announces a new
// master, for a client made by NewRedisClient from a ?master= URL; a subscription
// must then be made again (go-redis moves only its command pools). For other
// clients it returns nil, which never becomes ready.
func (s *Store) MasterSwitched() <-chan struct{} {
	if c, ok := s.client.(interface{ MasterSwitched() <-chan struct{} }); ok {
		return c.MasterSwitched()
	}
	return nil
}

// Get reads placement pkey. It returns an error wrapping placement.ErrNotFound
// when Redis holds no such key, one wrapping placement.ErrUnavailable when Redis
// cannot be read, and one wrapping placement.ErrInvalid when the stored record is
// not a valid placement (the cache then keeps serving the last good copy).
func (s *Store) Get(ctx context.Context, pkey string) (*placement.Placement, error) {
	data, err := s.client.Get(ctx, s.Key(pkey)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("placement %q: %w", pkey, placement.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read placement %q: %w: %w", pkey, placement.ErrUnavailable, err)
	}
	return placement.DecodeStored(data, pkey) // an invalid record: an error wrapping placement.ErrInvalid
}

// Put validates p and writes it as its placement's next version (Write, by
// nobody in particular), then publishes its pkey, in that order, so that an
// instance that reads after the message sees the new record. Writes that should
// say who made them go through package admin.
func (s *Store) Put(ctx context.Context, p *placement.Placement) error {
	if err := p.Validate(); err != nil {
		return err
	}
	data, err := placement.Encode(p)
	if err != nil {
		return fmt.Errorf("encode placement %q: %w", p.PKey, err)
	}
	_, err = s.Write(ctx, Write{PKey: p.PKey, Record: data, Expect: AnyVersion})
	return err
}

// Delete deletes placement pkey (a version of its own) and publishes the change.
// Deleting a missing placement is not an error.
func (s *Store) Delete(ctx context.Context, pkey string) error {
	_, err := s.Write(ctx, Write{PKey: pkey, Expect: AnyVersion})
	if errors.Is(err, placement.ErrNotFound) {
		return nil
	}
	return err
}

func (s *Store) publish(ctx context.Context, pkeys ...string) error {
	if len(pkeys) == 0 {
		return nil
	}
	// Messages go out in a pipeline but only after the writes have been acknowledged:
	// in a cluster, keys and PUBLISH may live on different nodes.
	_, err := s.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range pkeys {
			pipe.Publish(ctx, s.channel, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish placement changes on %s: %w", s.channel, err)
	}
	return nil
}

// PutAll validates every placement and then writes each one whose stored JSON
// differs as its next version (Write), publishing its pkey. It returns the pkeys
// it published. Nothing is written when any placement is invalid.
func (s *Store) PutAll(ctx context.Context, ps []placement.Placement) (changed []string, err error) {
	var errs []error
	seen := make(map[string]bool, len(ps))
	for i := range ps {
		if err := ps[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[ps[i].PKey] {
			errs = append(errs, fmt.Errorf("placement %q appears twice", ps[i].PKey))
		}
		seen[ps[i].PKey] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range ps {
		data, err := placement.Encode(&ps[i])
		if err != nil {
			return changed, fmt.Errorf("encode placement %q: %w", ps[i].PKey, err)
		}
		res, err := s.Write(ctx, Write{PKey: ps[i].PKey, Record: data, Expect: AnyVersion})
		if err != nil {
			return changed, err
		}
		if res.Changed {
			changed = append(changed, ps[i].PKey)
		}
	}
	return changed, nil
}
