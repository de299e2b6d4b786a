package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"asap/service/internal/placement"
)

// v2 serves GET /v2: how the placement behaves in the SDK.
func (s *Server) v2(c echo.Context) error {
	q, err := parseV2Query(c.Request().URL.RawQuery)
	if err != nil {
		return err
	}
	p, err := s.placements.Get(c.Request().Context(), q.pkey)
	if err != nil {
		return lookupError(s.log, q.pkey, err)
	}
	mrid := uuid.New()
	answer := s.v2Answers.get(p)
	if len(p.Experiments) > 0 {
		answer = answer.arm(p.Arm(bucket(p.PKey, q.uid, mrid)))
		if answer.requests != nil {
			answer.requests.Inc()
		}
	}
	keyType, keyValue := answer.view.KeyFor(q.target())

	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	*buf = answer.append((*buf)[:0], mrid, keyType, keyValue)

	res := c.Response()
	h := res.Header()
	// Shared, never-mutated slices: http.Header.Set would allocate two per request.
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheControlNoStore
	res.WriteHeader(http.StatusOK)
	res.Write(*buf) // an error here means the client left; nothing to answer
	return nil
}

// bucket returns the experiment bucket of a GET /v2 request: from its uid, else
// (none, or a zeroed one) from its mrid, as placement.Bucket says.
func bucket(pkey, uid string, mrid uuid.UUID) int {
	if !placement.NoUID(uid) {
		return placement.Bucket(pkey, uid)
	}
	var s [36]byte
	return placement.Bucket(pkey, appendUUID(s[:0], mrid))
}

var (
	contentTypeJSON     = []string{echo.MIMEApplicationJSON}
	cacheControlNoStore = []string{"no-store"}
	bufPool             = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

// lookupError turns a placement lookup failure into the error the client sees:
// not found (404), an invalid record (503 PLACEMENT_INVALID: the record, not the
// store, is at fault; the cache logs it with its problems), or unavailable (503)
// for anything else, so that no failure of the store becomes a 500. The store's
// own error is not shown: it may name hosts, and a record's problems are for
// operators.
func lookupError(log *slog.Logger, pkey string, err error) error {
	if errors.Is(err, placement.ErrNotFound) {
		return &placementError{pkey: pkey, err: placement.ErrNotFound}
	}
	if errors.Is(err, placement.ErrInvalid) {
		return &placementError{pkey: pkey, err: placement.ErrInvalid}
	}
	if !errors.Is(err, placement.ErrUnavailable) {
		log.Debug("placement lookup failed", "pkey", pkey, "error", err)
	}
	return &placementError{pkey: pkey, err: placement.ErrUnavailable}
}

// placementError is a failed placement lookup, worded for the client. It wraps
// placement.ErrNotFound, placement.ErrInvalid or placement.ErrUnavailable.
type placementError struct {
	pkey string
	err  error
}

func (e *placementError) Error() string { return fmt.Sprintf("pkey %q: %v", e.pkey, e.err) }
func (e *placementError) Unwrap() error { return e.err }
