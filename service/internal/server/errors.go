package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"asap/service/internal/jsonstr"
	"asap/service/internal/placement"
	"asap/service/internal/query"
)

// errShed is the answer to a request refused by the in-flight/queue limits.
var errShed = errors.New("server busy: too many requests in flight, retry later")

// errorBody is the JSON of every error answer. Status is never "OK", which SDKs
// take for success.
type errorBody struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// handleError is Echo's HTTPErrorHandler: the one place where errors become HTTP
// statuses. Only messages written for clients are shown (query.Error, lookupError's,
// echo.HTTPError's); anything unexpected is logged and answered with a bare 500.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		code   int
		status string
		msg    = err.Error()
		he     *echo.HTTPError
	)
	switch {
	case errors.Is(err, query.ErrBadInput):
		code, status = http.StatusBadRequest, "BAD_REQUEST"
	case errors.Is(err, placement.ErrNotFound):
		code, status, msg = http.StatusNotFound, "NOT_FOUND", placementMessage(err, placement.ErrNotFound)
	case errors.Is(err, placement.ErrInvalid):
		code, status, msg = http.StatusServiceUnavailable, "PLACEMENT_INVALID", placementMessage(err, placement.ErrInvalid)
	case errors.Is(err, placement.ErrUnavailable):
		code, status, msg = http.StatusServiceUnavailable, "UNAVAILABLE", placementMessage(err, placement.ErrUnavailable)
	case errors.Is(err, errShed):
		code, status = http.StatusServiceUnavailable, "UNAVAILABLE"
	case errors.As(err, &he):
		code, status = he.Code, statusOf(he.Code)
		msg = fmt.Sprint(he.Message)
		switch code {
		case http.StatusNotFound:
			msg = "no such endpoint: " + truncate(c.Request().URL.Path, 128)
		case http.StatusMethodNotAllowed:
			msg = "method " + truncate(c.Request().Method, 16) + " not allowed; use GET"
		}
	default:
		code, status, msg = http.StatusInternalServerError, "INTERNAL", "internal error"
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("method", c.Request().Method), slog.String("route", c.Path()), slog.Any("error", err))
	}
	if code == http.StatusServiceUnavailable {
		c.Response().Header().Set(echo.HeaderRetryAfter, s.retryAfter)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	c.JSONBlob(code, errorBody{Status: status, Error: msg}.appendJSON(nil))
}

// appendJSON appends e's JSON, as a json.Encoder with HTML escaping off writes
// it (no newline): a message reads customKeys[<name>], not
// customKeys[\u003cname\u003e].
func (e errorBody) appendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = jsonstr.Append(b, e.Status)
	b = append(b, `,"error":`...)
	b = jsonstr.Append(b, e.Error)
	return append(b, '}')
}

// placementMessage is the client's message for a failed placement lookup: the
// pkey and the sentinel's text when the handler wrapped it with lookupError, else
// the sentinel's text alone, so that store errors (hosts, addresses) never show.
func placementMessage(err, sentinel error) string {
	var pe *placementError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return sentinel.Error()
}

// statusOf names an HTTP status for the JSON "status" field.
func statusOf(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "BAD_REQUEST"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "METHOD_NOT_ALLOWED"
	case http.StatusRequestEntityTooLarge:
		return "PAYLOAD_TOO_LARGE"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "ERROR"
}

// truncate shortens client input echoed in an error to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
