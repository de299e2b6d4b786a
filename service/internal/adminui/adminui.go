// Package adminui is the page for ad ops on the admin port, under /admin/ui/:
// the placements, one placement's current record and kept versions, the
// difference between any two of them, and a button that rolls back to one
// through the admin API (POST /admin/placements/{pkey}/rollback).
//
// The HTML is rendered on the server with html/template. Authentication is the
// admin API's: a bearer token of ASAP_ADMIN_TOKENS. The browser holds it this
// way: a page answered to a request without an Authorization header is an empty
// shell (no data) whose script asks for the token once, keeps it in the tab's
// sessionStorage (gone when the tab closes; never in a cookie, a URL or a log),
// and fetches the same URL again with Authorization: Bearer, getting the rendered
// content. With no cookie there is no ambient credential, so another site cannot
// make the browser act for the operator (no CSRF); a strict Content-Security-Policy
// lets only the page's own script and style run.
package adminui

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"asap/service/config"
	"asap/service/internal/admin"
	"asap/service/internal/placement"
	"asap/service/internal/store"
)

// Prefix is where the page is served on the admin port.
const Prefix = "/admin/ui/"

// Placements is what the page reads: admin.Manager's reads.
type Placements interface {
	// List returns every placement with its current version, sorted by pkey.
	List(ctx context.Context) ([]store.Summary, error)
	// Versions returns the kept versions of a placement, newest first;
	// placement.ErrNotFound when it has none.
	Versions(ctx context.Context, pkey string) ([]store.Version, error)
}

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}).ParseFS(assets, "assets/*.html"))

// UI serves the page. It is an http.Handler for the paths under Prefix.
type UI struct {
	placements Placements
	tokens     config.AdminTokens
	log        *slog.Logger
	mux        *http.ServeMux
}

// New returns the page over placements, for the bearer tokens of the admin API
// (none: every content request is refused, as the API refuses it). log receives
// unexpected failures (nil: none); it never receives a token.
func New(placements Placements, tokens config.AdminTokens, log *slog.Logger) *UI {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &UI{placements: placements, tokens: tokens, log: log, mux: http.NewServeMux()}
	u.mux.HandleFunc("GET "+Prefix+"static/{name}", serveStatic)
	u.mux.HandleFunc("GET "+Prefix+"{$}", u.page("ASAP placements", u.list))
	u.mux.HandleFunc("GET "+Prefix+"placements/{pkey}", u.page("ASAP placement", u.placement))
	return u
}

// ServeHTTP serves the page's routes with its security headers.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	u.mux.ServeHTTP(w, r)
}

// static are the page's script and style sheet, by name, with their types.
var static = map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}

// serveStatic serves a file of static; any other name is a 404.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	typ, ok := static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // the embedded files are part of the binary
	}
	w.Header().Set("Content-Type", typ)
	w.Write(b)
}

// errBadQuery is a query the page cannot show: a 400 naming the parameter.
var errBadQuery = errors.New("bad query")

// page serves the shell to a request without credentials and, to one with a
// valid bearer token, the content render writes.
func (u *UI) page(title string, render func(r *http.Request) (string, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Authorization")
		if r.Header.Get("Authorization") == "" {
			u.write(w, http.StatusOK, "shell", struct{ Title string }{title})
			return
		}
		if _, err := admin.Authenticate(u.tokens, r); err != nil {
			code := http.StatusUnauthorized
			if errors.Is(err, admin.ErrNoTokens) {
				code = http.StatusForbidden
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintln(w, err)
			return
		}
		name, data, err := render(r)
		switch {
		case err == nil:
			u.write(w, http.StatusOK, name, data)
		case errors.Is(err, errBadQuery):
			u.write(w, http.StatusBadRequest, "problem", err.Error())
		case errors.Is(err, placement.ErrNotFound):
			u.write(w, http.StatusNotFound, "problem", "No such placement: "+r.PathValue("pkey")+".")
		case errors.Is(err, placement.ErrUnavailable):
			u.log.Warn("admin page: placement store unavailable", "path", r.URL.Path, "err", err)
			u.write(w, http.StatusServiceUnavailable, "problem", "Redis is unavailable; try again.")
		default:
			u.log.Error("admin page failed", "path", r.URL.Path, "err", err)
			u.write(w, http.StatusInternalServerError, "problem", "Internal error (logged).")
		}
	}
}

// write renders template name into a buffer first, so that a failed render is a
// 500, not half a page.
func (u *UI) write(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		u.log.Error("admin page: template failed", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	b.WriteTo(w)
}

func (u *UI) list(r *http.Request) (string, any, error) {
	ps, err := u.placements.List(r.Context())
	if err != nil {
		return "", nil, err
	}
	return "list", ps, nil
}

// version is one row of a placement's versions.
type version struct {
	Number  int64
	At      time.Time
	Who     string
	Status  string // the record's, or "deleted"
	Deleted bool
}

// change is one row of the difference between two versions.
type change struct {
	Path     string
	Old, New string // indented JSON; "" when absent
}

// detail is what the placement page shows.
type detail struct {
	PKey     string
	Current  version
	Record   string // the current record, indented
	Versions []version
	// A and B are the versions compared (A older), Changes their difference;
	// Compared is false when the placement has one version only.
	A, B     int64
	Compared bool
	Changes  []change
}

func (u *UI) placement(r *http.Request) (string, any, error) {
	pkey := r.PathValue("pkey")
	if !placement.ValidKey(pkey) {
		return "", nil, fmt.Errorf("%w: pkey %q: want [A-Za-z0-9_-]{1,64}", errBadQuery, pkey)
	}
	vs, err := u.placements.Versions(r.Context(), pkey)
	if err != nil {
		return "", nil, err
	}
	if len(vs) == 0 {
		return "", nil, fmt.Errorf("%w: pkey %q", placement.ErrNotFound, pkey)
	}
	d := detail{PKey: pkey}
	byNumber := map[int64]store.Version{}
	for _, v := range vs {
		d.Versions = append(d.Versions, version{Number: v.Version, At: v.At, Who: v.Who, Status: status(v.Placement), Deleted: v.Deleted()})
		byNumber[v.Version] = v
	}
	d.Current = d.Versions[0]
	d.Record = indent(vs[0].Placement)
	if len(vs) < 2 {
		return "placement", d, nil
	}
	// By default the current version against the one before it.
	d.A, d.B, d.Compared = vs[1].Version, vs[0].Version, true
	for name, dst := range map[string]*int64{"a": &d.A, "b": &d.B} {
		s := r.URL.Query().Get(name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if _, kept := byNumber[n]; err != nil || !kept {
			return "", nil, fmt.Errorf("%w: %s=%.20q: not a kept version of %s", errBadQuery, name, s, pkey)
		}
		*dst = n
	}
	for _, c := range admin.Diff(byNumber[d.A].Placement, byNumber[d.B].Placement) {
		d.Changes = append(d.Changes, change{Path: c.Path, Old: indent(c.Old), New: indent(c.New)})
	}
	return "placement", d, nil
}

// status is a record's status field; "deleted" for a deletion.
func status(record json.RawMessage) string {
	if record == nil {
		return "deleted"
	}
	var p struct {
		Status string `json:"status"`
	}
	json.Unmarshal(record, &p)
	return p.Status
}

// indent is raw JSON indented for people; "" for none.
func indent(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}
