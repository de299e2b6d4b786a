// Package admin is how placements are changed: validated, versioned writes with
// an audit line each (Manager), which both the admin API on the admin listener
// (NewAPI) and `asap load` go through, and the difference between two records
// (Diff) that the audit line and the ad-ops page show.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/store"
)

// AnyVersion, as the expected version of a write, makes it unconditional.
const AnyVersion = store.AnyVersion

// ErrBadInput means a write was refused for what it asked: an invalid record, a
// pkey that does not match, a version that does not exist. Its message lists every
// problem, one per line.
var ErrBadInput = errors.New("bad input")

// Manager reads placements with their versions and writes them: every write is
// validated, stored atomically with its version (store.Write), published, and
// logged as one audit line.
type Manager struct {
	store  *store.Store
	log    *slog.Logger
	checks []placement.Check
}

// NewManager returns a manager of the placements of st that logs its audit lines
// to log (nil: none) and validates every record with placement's Validate and
// checks (see Checks).
func NewManager(st *store.Store, log *slog.Logger, checks ...placement.Check) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: st, log: log, checks: checks}
}

// Checks returns the validations that depend on the configuration, which `asap
// load` and the admin API both apply: each upstream a placement names must be one
// of upstreams, when any are configured.
func Checks(upstreams config.Upstreams) []placement.Check {
	if len(upstreams) == 0 {
		return nil
	}
	names := make([]string, len(upstreams))
	for i, u := range upstreams {
		names[i] = u.Name
	}
	configured := func(p *placement.Placement) error {
		if p.Ad == nil {
			return nil
		}
		if p.Ad.Upstream != "" {
			if _, ok := upstreams.Lookup(p.Ad.Upstream); !ok {
				return fmt.Errorf("ad.upstream %q is not one of ASAP_UPSTREAMS (%s)", p.Ad.Upstream, strings.Join(names, ", "))
			}
		}
		var errs []error
		for i, b := range p.Ad.Upstreams {
			if _, ok := upstreams.Lookup(b.Name); !ok && b.Name != "" {
				errs = append(errs, fmt.Errorf("ad.upstreams[%d].name %q is not one of ASAP_UPSTREAMS (%s)", i, b.Name, strings.Join(names, ", ")))
			}
		}
		return errors.Join(errs...)
	}
	return []placement.Check{configured}
}

// Decode reads one placement record as the admin API receives it and validates
// it as `asap load` validates a file's records. The error wraps ErrBadInput.
func (m *Manager) Decode(data []byte) (*placement.Placement, error) {
	p, err := placement.DecodeRecord(data, m.checks...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return p, nil
}

// List returns every placement with its current version, sorted by pkey.
func (m *Manager) List(ctx context.Context) ([]store.Summary, error) {
	return m.store.List(ctx)
}

// Get returns the current version of placement pkey; placement.ErrNotFound when
// it has no record.
func (m *Manager) Get(ctx context.Context, pkey string) (store.Version, error) {
	return m.store.Current(ctx, pkey)
}

// Versions returns the versions of placement pkey that are kept (the last
// store.KeepVersions), newest first; placement.ErrNotFound when it has neither a
// record nor a history.
func (m *Manager) Versions(ctx context.Context, pkey string) ([]store.Version, error) {
	vs, err := m.store.History(ctx, pkey)
	if err != nil || len(vs) > 0 {
		return vs, err
	}
	// A record written before versioning is its own version 0.
	cur, err := m.store.Current(ctx, pkey)
	if err != nil {
		return nil, err
	}
	return []store.Version{cur}, nil
}

// Put validates p and stores it as the next version of its placement, if the
// current version is ifMatch (AnyVersion: whatever it is); otherwise it fails with
// store.ErrVersionMismatch. who is recorded in the history and the audit line.
func (m *Manager) Put(ctx context.Context, who string, p *placement.Placement, ifMatch int64) (store.Result, error) {
	if err := m.validate(p); err != nil {
		return store.Result{}, err
	}
	record, err := placement.Encode(p)
	if err != nil {
		return store.Result{}, fmt.Errorf("encode placement %q: %w", p.PKey, err)
	}
	return m.write(ctx, "put", store.Write{PKey: p.PKey, Record: record, Expect: ifMatch, Who: who}, 0)
}

// PutAll validates every placement (each pkey once) and then puts each one
// unconditionally, as `asap load` does: nothing is written when any is invalid. It
// returns the pkeys whose record changed.
func (m *Manager) PutAll(ctx context.Context, who string, ps []placement.Placement) (changed []string, err error) {
	var errs []error
	seen := make(map[string]bool, len(ps))
	for i := range ps {
		errs = append(errs, m.validate(&ps[i]))
		if seen[ps[i].PKey] {
			errs = append(errs, fmt.Errorf("%w: placement %q appears twice", ErrBadInput, ps[i].PKey))
		}
		seen[ps[i].PKey] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range ps {
		res, err := m.Put(ctx, who, &ps[i], AnyVersion)
		if err != nil {
			return changed, err
		}
		if res.Changed {
			changed = append(changed, res.PKey)
		}
	}
	return changed, nil
}

// Delete deletes placement pkey, if its current version is ifMatch (AnyVersion:
// whatever it is). The deletion is a version of its own, so a rollback can undo it.
func (m *Manager) Delete(ctx context.Context, who, pkey string, ifMatch int64) (store.Result, error) {
	if !placement.ValidKey(pkey) {
		return store.Result{}, fmt.Errorf("%w: pkey %q: want [A-Za-z0-9_-]{1,64}", ErrBadInput, pkey)
	}
	return m.write(ctx, "delete", store.Write{PKey: pkey, Expect: ifMatch, Who: who}, 0)
}

// Rollback makes version `to` of placement pkey current again, as a new version
// equal to it (a deletion, when version `to` was one), if the current version is
// ifMatch (AnyVersion: whatever it is; a write that comes between is then retried
// a few times). Version `to` must still be kept and still be valid.
func (m *Manager) Rollback(ctx context.Context, who, pkey string, to, ifMatch int64) (store.Result, error) {
	if !placement.ValidKey(pkey) {
		return store.Result{}, fmt.Errorf("%w: pkey %q: want [A-Za-z0-9_-]{1,64}", ErrBadInput, pkey)
	}
	const attempts = 5
	for attempt := 1; ; attempt++ {
		history, err := m.store.History(ctx, pkey)
		if err != nil {
			return store.Result{}, err
		}
		var target *store.Version
		for i := range history {
			if history[i].Version == to {
				target = &history[i]
			}
		}
		if target == nil {
			return store.Result{}, fmt.Errorf("%w: placement %q has no version %d: the last %d versions are kept (GET .../versions lists them)",
				placement.ErrNotFound, pkey, to, store.KeepVersions)
		}
		w := store.Write{PKey: pkey, Record: target.Placement, Expect: ifMatch, Who: who}
		if w.Expect == AnyVersion {
			w.Expect = history[0].Version
		}
		if !target.Deleted() {
			// The record was valid when stored; the checks (the configured upstreams)
			// may have changed since.
			p, err := placement.DecodeStored(target.Placement, pkey)
			if err == nil {
				err = m.validate(p)
			}
			if err != nil {
				return store.Result{}, fmt.Errorf("%w: version %d of placement %q is no longer valid: %w", ErrBadInput, to, pkey, err)
			}
		}
		op := "rollback"
		if target.Deleted() {
			op = "rollback-delete"
		}
		res, err := m.write(ctx, op, w, to)
		if errors.Is(err, placement.ErrNotFound) && target.Deleted() {
			// Rolling back to a deletion when there is no record: nothing to do.
			return res, nil
		}
		if errors.Is(err, store.ErrVersionMismatch) && ifMatch == AnyVersion && attempt < attempts {
			continue
		}
		return res, err
	}
}

// validate checks p as `asap load` does; the error wraps ErrBadInput.
func (m *Manager) validate(p *placement.Placement) error {
	errs := []error{p.Validate()}
	for _, check := range m.checks {
		if err := check(p); err != nil {
			errs = append(errs, fmt.Errorf("placement %q: %w", p.PKey, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}

// write runs w and logs its audit line: who, pkey, the operation, old and new
// version, and the fields that changed. rollbackTo is the version a rollback
// restores (0 otherwise).
func (m *Manager) write(ctx context.Context, op string, w store.Write, rollbackTo int64) (store.Result, error) {
	res, err := m.store.Write(ctx, w)
	if err != nil || !res.Changed {
		return res, err
	}
	changes := Diff(res.Old.Placement, res.New.Placement)
	fields := make([]string, len(changes))
	for i, c := range changes {
		fields[i] = c.Path
	}
	attrs := []slog.Attr{
		slog.String("who", w.Who),
		slog.String("pkey", w.PKey),
		slog.String("op", op),
		slog.Int64("old_version", res.Old.Version),
		slog.Int64("new_version", res.New.Version),
		slog.Any("fields", fields),
	}
	if rollbackTo > 0 {
		attrs = append(attrs, slog.Int64("rollback_to", rollbackTo))
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "audit: placement changed", attrs...)
	return res, nil
}

// FieldChange is one field that differs between two records: its path (object
// members joined with '.', such as "ad.bidfloor"; arrays compare whole) and its
// JSON before and after (nil where the field is absent).
type FieldChange struct {
	Path string          `json:"path"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}
