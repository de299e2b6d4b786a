package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement"
)

// KeepVersions is how many versions of a placement its history keeps: the newest
// ones. Version numbers keep growing past it.
const KeepVersions = 50

// AnyVersion, as the expected version of a Write, makes it unconditional.
const AnyVersion int64 = -1

// ErrVersionMismatch means a conditional write expected a version that is no longer
// the current one: another write came first.
var ErrVersionMismatch = errors.New("placement version mismatch")

// Version is one version of a placement, as its history keeps it.
type Version struct {
	// Version numbers only grow. 0 is a record written before versioning (or by a
	// writer that bypassed the store): it has no history entry.
	Version int64 `json:"version"`
	// At is when the version was written; zero for version 0.
	At time.Time `json:"at,omitzero"`
	// Who wrote it: an admin token's name, or "load:<user>" for `asap load`.
	Who string `json:"who,omitempty"`
	// Placement is the record exactly as stored; nil when this version is a deletion.
	Placement json.RawMessage `json:"placement"`
}

// Deleted reports whether the version is a deletion.
func (v Version) Deleted() bool { return v.Placement == nil }

// Summary is a placement in the list of all placements: its current version.
type Summary struct {
	PKey    string    `json:"pkey"`
	Version int64     `json:"version"`
	Status  string    `json:"status"`
	At      time.Time `json:"at,omitzero"`
	Who     string    `json:"who,omitempty"`
}

// Write is one versioned change of a placement: a new record, or a deletion.
type Write struct {
	PKey string
	// Record is the JSON to store (placement.Encode's); nil deletes the placement.
	Record []byte
	// Expect is the version the writer saw: the write happens only if it is still
	// the current one. AnyVersion writes whatever the current version is.
	Expect int64
	// Who is recorded in the history entry.
	Who string
}

// Result is what a Write did.
type Result struct {
	PKey string
	// Old is the version before the write; its Placement the record it replaced
	// (nil when there was none).
	Old Version
	// New is the version after it. When Changed is false it is Old: the record
	// stored already equalled the one written, so nothing was written.
	New     Version
	Changed bool
	// Created reports whether a record now exists where none did.
	Created bool
}

// HistoryKey returns the Redis key of the history of placement pkey: a list of its
// last KeepVersions versions, newest first. It hashes to the cluster slot of
// Key(pkey), so that one script may update both in Redis Cluster: its hash tag is
// the whole placement key (asap:placement-history:{asap:placement:demo-feed}), or,
// when the key prefix holds a hash tag of its own ({asap}:), that tag, which both
// keys then start with (config allows braces in the prefix only as one hash tag).
func (s *Store) HistoryKey(pkey string) string {
	if hashTag(s.prefix) != "" {
		return s.history + pkey
	}
	return s.history + "{" + s.Key(pkey) + "}"
}

// hashTag returns the part of key that Redis Cluster hashes when it is not the
// whole key: the text between the first '{' and the first '}' after it, if not
// empty (the rule of the Redis Cluster specification).
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return ""
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return ""
	}
	return key[open+1 : open+1+end]
}

// writeScript is the versioned write: it reads the current version from the head
// of the history, checks the expected version, writes or deletes the record,
// pushes the new version and trims the history, all at once (a Lua script runs
// alone on its node, so no other write can come between the check and the write).
//
//go:embed write.lua
var writeLua string

var writeScript = redis.NewScript(writeLua)

// Write applies w atomically: the record and its history change together or not
// at all, the version grows by one, and a conditional write whose expected version
// is not the current one fails with ErrVersionMismatch and changes nothing. A write
// of the record already stored changes nothing either (Result.Changed is false);
// deleting a placement that has no record fails with placement.ErrNotFound. After a
// change, the pkey is published on the change channel.
func (s *Store) Write(ctx context.Context, w Write) (Result, error) {
	op, record := "put", string(w.Record)
	if w.Record == nil {
		op, record = "delete", ""
	}
	who, _ := json.Marshal(w.Who)
	at, _ := json.Marshal(time.Now().UTC().Format(time.RFC3339Nano))
	expect := ""
	if w.Expect != AnyVersion {
		expect = strconv.FormatInt(w.Expect, 10)
	}
	reply, err := writeScript.Run(ctx, s.client, []string{s.Key(w.PKey), s.HistoryKey(w.PKey)},
		expect, op, record, string(who), string(at), KeepVersions).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("write placement %q: %w: %w", w.PKey, placement.ErrUnavailable, err)
	}
	res, outcome, err := s.parseWriteReply(w.PKey, reply)
	if err != nil {
		return Result{}, err
	}
	switch outcome {
	case "mismatch":
		return res, fmt.Errorf("placement %q is at version %d, not %d: %w", w.PKey, res.Old.Version, w.Expect, ErrVersionMismatch)
	case "missing":
		return res, fmt.Errorf("placement %q: %w", w.PKey, placement.ErrNotFound)
	case "unchanged":
		return res, nil
	}
	return res, s.publish(ctx, w.PKey)
}

// parseWriteReply reads the script's reply: {outcome, old version, new version,
// new entry, old record?}.
func (s *Store) parseWriteReply(pkey string, reply []any) (Result, string, error) {
	bad := func() (Result, string, error) {
		return Result{}, "", fmt.Errorf("write placement %q: unexpected reply from the write script: %v", pkey, reply)
	}
	if len(reply) < 4 {
		return bad()
	}
	outcome, ok1 := reply[0].(string)
	oldVersion, ok2 := reply[1].(int64)
	entry, ok3 := reply[3].(string)
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	res := Result{PKey: pkey, Old: Version{Version: oldVersion}}
	if len(reply) > 4 {
		old, ok := reply[4].(string)
		if !ok {
			return bad()
		}
		res.Old.Placement = json.RawMessage(old)
	}
	res.New = res.Old
	if outcome == "written" {
		v, err := decodeVersion(entry)
		if err != nil {
			return Result{}, "", fmt.Errorf("write placement %q: %w", pkey, err)
		}
		res.New, res.Changed = v, true
		res.Created = res.Old.Placement == nil && v.Placement != nil
	}
	return res, outcome, nil
}

// Current returns the current version of placement pkey: its record and the version
// at the head of its history, read together. It fails with placement.ErrNotFound
// when no record exists (a deleted placement has none).
func (s *Store) Current(ctx context.Context, pkey string) (Version, error) {
	var rec *redis.StringCmd
	var head *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		rec = pipe.Get(ctx, s.Key(pkey))
		head = pipe.LIndex(ctx, s.HistoryKey(pkey), 0)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Version{}, fmt.Errorf("read placement %q: %w: %w", pkey, placement.ErrUnavailable, err)
	}
	data, err := rec.Bytes()
	if errors.Is(err, redis.Nil) {
		return Version{}, fmt.Errorf("placement %q: %w", pkey, placement.ErrNotFound)
	}
	v := Version{}
	if h, err := head.Result(); err == nil {
		if v, err = decodeVersion(h); err != nil {
			return Version{}, fmt.Errorf("placement %q: %w", pkey, err)
		}
	}
	v.Placement = data
	return v, nil
}

// History returns the versions of placement pkey that its history keeps, newest
// first. A placement written before versioning has an empty history.
func (s *Store) History(ctx context.Context, pkey string) ([]Version, error) {
	entries, err := s.client.LRange(ctx, s.HistoryKey(pkey), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read the history of placement %q: %w: %w", pkey, placement.ErrUnavailable, err)
	}
	out := make([]Version, 0, len(entries))
	for _, e := range entries {
		v, err := decodeVersion(e)
		if err != nil {
			return nil, fmt.Errorf("placement %q: %w", pkey, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// List returns every placement that has a record, sorted by pkey, each with its
// current version and status. In a cluster it scans every master.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, globEscape(s.prefix)+"*", 1000).Iterator()
		var found []string
		for iter.Next(ctx) {
			found = append(found, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		keys = append(keys, found...)
		return nil
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // ForEachMaster runs the callbacks at once
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, node)
		})
	case *redis.Client:
		err = scan(ctx, c)
	default:
		iter := s.client.Scan(ctx, 0, globEscape(s.prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err = iter.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("list placements: %w: %w", placement.ErrUnavailable, err)
	}
	pkeys := make([]string, 0, len(keys))
	for _, k := range keys {
		if pkey := strings.TrimPrefix(k, s.prefix); placement.ValidKey(pkey) {
			pkeys = append(pkeys, pkey)
		}
	}
	slices.Sort(pkeys)
	pkeys = slices.Compact(pkeys)

	out := make([]Summary, 0, len(pkeys))
	for _, pkey := range pkeys {
		v, err := s.Current(ctx, pkey)
		if errors.Is(err, placement.ErrNotFound) {
			continue // deleted since the scan
		}
		if err != nil {
			return nil, err
		}
		var rec struct {
			Status string `json:"status"`
		}
		json.Unmarshal(v.Placement, &rec) // a record that is not JSON lists with no status
		out = append(out, Summary{PKey: pkey, Version: v.Version, Status: rec.Status, At: v.At, Who: v.Who})
	}
	return out, nil
}

// globEscape escapes the glob characters of SCAN's MATCH in s.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// decodeVersion reads one history entry.
func decodeVersion(entry string) (Version, error) {
	var v Version
	if err := json.Unmarshal([]byte(entry), &v); err != nil {
		return Version{}, fmt.Errorf("a history entry is not valid JSON: %w", err)
	}
	if string(v.Placement) == "null" {
		v.Placement = nil
	}
	return v, nil
}
