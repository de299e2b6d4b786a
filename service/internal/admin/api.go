package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/store"
)

// MaxBodyBytes bounds the body of a PUT or a rollback.
const MaxBodyBytes = 1 << 20

// API is the admin API (docs/admin-openapi.yaml), served under /admin/placements
// on the admin listener: every request needs a bearer token of ASAP_ADMIN_TOKENS.
type API struct {
	m      *Manager
	tokens config.AdminTokens
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewAPI returns the admin API over m. With no tokens it refuses every request
// (403); log receives unexpected failures (nil: none). Audit lines are m's.
func NewAPI(m *Manager, tokens config.AdminTokens, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{m: m, tokens: tokens, log: log, mux: http.NewServeMux()}
	a.routes()
	return a
}

// routes registers every route of the admin API.
func (a *API) routes() {
	a.mux.HandleFunc("GET /admin/placements", a.handle(a.list))
	a.mux.HandleFunc("GET /admin/placements/{pkey}", a.handle(a.get))
	a.mux.HandleFunc("PUT /admin/placements/{pkey}", a.handle(a.put))
	a.mux.HandleFunc("DELETE /admin/placements/{pkey}", a.handle(a.delete))
	a.mux.HandleFunc("GET /admin/placements/{pkey}/versions", a.handle(a.versions))
	a.mux.HandleFunc("POST /admin/placements/{pkey}/rollback", a.handle(a.rollback))
}

// methods are the methods the API's routes may have, for 405's Allow.
var methods = []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost}

// ServeHTTP authenticates the request, then routes it; a path the API does not
// have is a 404, a method it does not have on a path a 405 with Allow, both JSON.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	who, err := Authenticate(a.tokens, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, pattern := a.mux.Handler(r); pattern != "" {
		a.mux.ServeHTTP(w, r.WithContext(withWho(r.Context(), who)))
		return
	}
	var allow []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such admin endpoint: "+truncate(r.URL.Path, 128), nil)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		fmt.Sprintf("method %s not allowed here; use %s", truncate(r.Method, 16), strings.Join(allow, " or ")), nil)
}

// handle adapts a handler that returns an error to http.HandlerFunc; the error
// becomes the answer in fail, the one place where errors become statuses.
func (a *API) handle(h func(w http.ResponseWriter, r *http.Request, who string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r, whoOf(r.Context())); err != nil {
			a.fail(w, r, err)
		}
	}
}

func (a *API) list(w http.ResponseWriter, r *http.Request, _ string) error {
	ps, err := a.m.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Placements []store.Summary `json:"placements"`
	}{ps})
	return nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request, _ string) error {
	pkey, err := pathKey(r)
	if err != nil {
		return err
	}
	v, err := a.m.Get(r.Context(), pkey)
	if err != nil {
		return err
	}
	writeVersion(w, http.StatusOK, v)
	return nil
}

func (a *API) put(w http.ResponseWriter, r *http.Request, who string) error {
	pkey, ifMatch, body, err := writeRequest(w, r, true)
	if err != nil {
		return err
	}
	p, err := a.m.Decode(body)
	if err != nil {
		var pk struct {
			PKey *string `json:"pkey"`
		}
		// A body without pkey takes the path's: fill it in and decode again.
		if json.Unmarshal(body, &pk) == nil && pk.PKey == nil && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			p, err = a.m.Decode(withPKey(body, pkey))
		}
		if err != nil {
			return err
		}
	}
	if p.PKey != pkey {
		return fmt.Errorf("%w: the body's pkey %q is not the path's %q", ErrBadInput, p.PKey, pkey)
	}
	res, err := a.m.Put(r.Context(), who, p, ifMatch)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeVersion(w, status, res.New)
	return nil
}

func (a *API) delete(w http.ResponseWriter, r *http.Request, who string) error {
	pkey, ifMatch, _, err := writeRequest(w, r, false)
	if err != nil {
		return err
	}
	res, err := a.m.Delete(r.Context(), who, pkey, ifMatch)
	if err != nil {
		return err
	}
	writeVersion(w, http.StatusOK, res.New)
	return nil
}

func (a *API) versions(w http.ResponseWriter, r *http.Request, _ string) error {
	pkey, err := pathKey(r)
	if err != nil {
		return err
	}
	vs, err := a.m.Versions(r.Context(), pkey)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		PKey     string          `json:"pkey"`
		Versions []store.Version `json:"versions"`
	}{pkey, vs})
	return nil
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request, who string) error {
	pkey, ifMatch, body, err := writeRequest(w, r, true)
	if err != nil {
		return err
	}
	var req struct {
		Version *int64 `json:"version"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return fmt.Errorf(`%w: want {"version": N}`, ErrBadInput)
	}
	if req.Version == nil || *req.Version < 1 {
		return fmt.Errorf(`%w: want {"version": N} with N a version of the placement (1 or more)`, ErrBadInput)
	}
	res, err := a.m.Rollback(r.Context(), who, pkey, *req.Version, ifMatch)
	if err != nil {
		return err
	}
	writeVersion(w, http.StatusOK, res.New)
	return nil
}

// whoKey is the context key of the authenticated token's name.
type whoKey struct{}

func withWho(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, whoKey{}, who)
}

func whoOf(ctx context.Context) string {
	who, _ := ctx.Value(whoKey{}).(string)
	return who
}

// errTooLarge is a body above MaxBodyBytes.
var errTooLarge = fmt.Errorf("the body is larger than %d bytes", MaxBodyBytes)

// fail answers err: the one place where errors become statuses. Only messages
// written for operators are shown; anything unexpected is logged and answered
// with a bare 500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNoTokens):
		writeError(w, http.StatusForbidden, "FORBIDDEN", err.Error(), nil)
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrUnknownToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="asap-admin"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error(), nil)
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", err.Error(), nil)
	case errors.Is(err, ErrBadInput):
		problems := strings.Split(strings.TrimPrefix(err.Error(), ErrBadInput.Error()+": "), "\n")
		msg := problems[0]
		if len(problems) > 1 {
			msg = fmt.Sprintf("%d problems; see problems", len(problems))
		}
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", msg, problems)
	case errors.Is(err, store.ErrVersionMismatch):
		writeError(w, http.StatusPreconditionFailed, "PRECONDITION_FAILED", err.Error()+": another write came first; GET the placement and retry", nil)
	case errors.Is(err, placement.ErrNotFound):
		writeError(w, http.StatusNotFound, "NOT_FOUND", notFoundMessage(err), nil)
	case errors.Is(err, placement.ErrUnavailable):
		// The cause may name hosts: for the log only.
		a.log.Warn("admin API: placement store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", placement.ErrUnavailable.Error(), nil)
	default:
		a.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error", nil)
	}
}

// notFoundMessage drops the sentinel's own text from messages that say more.
func notFoundMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, placement.ErrNotFound.Error()+": "); i == 0 {
		return msg[i+len(placement.ErrNotFound.Error())+2:]
	}
	return msg
}

// pathKey returns the request's {pkey}, checked.
func pathKey(r *http.Request) (string, error) {
	pkey := r.PathValue("pkey")
	if !placement.ValidKey(pkey) {
		return "", fmt.Errorf("%w: pkey %q: want [A-Za-z0-9_-]{1,64}", ErrBadInput, truncate(pkey, 80))
	}
	return pkey, nil
}

// writeRequest reads what a write asks for: the path's {pkey}, If-Match, and the
// body when withBody.
func writeRequest(w http.ResponseWriter, r *http.Request, withBody bool) (pkey string, ifMatch int64, body []byte, err error) {
	if pkey, err = pathKey(r); err != nil {
		return "", 0, nil, err
	}
	if ifMatch, err = parseIfMatch(r); err != nil {
		return "", 0, nil, err
	}
	if withBody {
		if body, err = readBody(w, r); err != nil {
			return "", 0, nil, err
		}
	}
	return pkey, ifMatch, body, nil
}

// parseIfMatch reads If-Match: "<version>" (AnyVersion when absent).
func parseIfMatch(r *http.Request) (int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return AnyVersion, nil
	}
	unquoted, ok := strings.CutPrefix(h, `"`)
	if ok {
		unquoted, ok = strings.CutSuffix(unquoted, `"`)
	}
	n, err := strconv.ParseInt(unquoted, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf(`%w: If-Match %q: want "<version>", the ETag of the version the change is based on`, ErrBadInput, truncate(h, 40))
	}
	return n, nil
}

// readBody reads at most MaxBodyBytes of the request's body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %w", ErrBadInput, err)
	}
	return body, nil
}

// withPKey returns the JSON object body with "pkey" added first.
func withPKey(body []byte, pkey string) []byte {
	key, _ := json.Marshal(pkey)
	rest := bytes.TrimPrefix(bytes.TrimSpace(body), []byte("{"))
	if len(bytes.TrimSpace(rest)) > 0 && bytes.TrimSpace(rest)[0] != '}' {
		return append(append([]byte(`{"pkey":`), key...), append([]byte(","), rest...)...)
	}
	return append(append([]byte(`{"pkey":`), key...), rest...)
}

// versionBody is the answer of a placement's current version.
type versionBody struct {
	Version   int64           `json:"version"`
	Placement json.RawMessage `json:"placement"`
}

// writeVersion answers v with its ETag.
func writeVersion(w http.ResponseWriter, status int, v store.Version) {
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(v.Version, 10)))
	writeJSON(w, status, versionBody{Version: v.Version, Placement: v.Placement})
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, code int, status, msg string, problems []string) {
	writeJSON(w, code, errorBody{Status: status, Error: msg, Problems: problems})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"status":"INTERNAL","error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
