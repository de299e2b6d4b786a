package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// OpenAPIPath is the SDK API's OpenAPI document, relative to the repository root.
const OpenAPIPath = "docs/openapi.yaml"

// Contract returns h with every request it serves and every answer it gives
// validated against the OpenAPI document (docs/openapi.yaml); each mismatch fails
// t. It holds the server to the document and the document to the server:
//
//   - a request the document allows must get an answer the document describes,
//     status, headers and body;
//   - a request the document refuses (a parameter out of its bounds, a required
//     one missing) must get a 400 the document describes — when OpenAPI gives the
//     query one meaning: a name given twice, or customKeys[a][b], it leaves
//     undefined (kin-openapi reads them as arrays and nested objects, which /v2
//     and /v2/ad do not have), so such a request is not validated and its answer
//     is only checked against the document;
//   - a path the document does not have must get a 404, and a method it does not
//     have on a path a 405 with Allow, both with the document's Error body.
//
// The answer passes through unchanged while it is recorded, so a handler that
// blocks or streams behaves as it would without Contract.
func Contract(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	return ContractOf(t, OpenAPIPath, h)
}

// AdminOpenAPIPath is the admin API's OpenAPI document, relative to the
// repository root.
const AdminOpenAPIPath = "docs/admin-openapi.yaml"

// ContractOf is Contract against the OpenAPI document at doc (relative to the
// repository root), such as AdminOpenAPIPath.
func ContractOf(t testing.TB, doc string, h http.Handler) http.Handler {
	t.Helper()
	c, err := loadContract(doc)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read twice, by the validation and by h.
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				t.Errorf("servertest: reading the request body: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		route, params, routeErr := c.router.FindRoute(r)
		var reqErr error
		// A query whose meaning OpenAPI leaves undefined is not validated: kin-openapi
		// would read it its own way, and v0.153.0 panics on some nested deepObject names.
		if routeErr == nil && !undefinedInOpenAPI(r.URL.Query()) {
			clone := r.Clone(r.Context())
			if body != nil {
				clone.Body = io.NopCloser(bytes.NewReader(body))
			}
			reqErr = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
				Request:    clone,
				PathParams: params,
				Route:      route,
				Options:    c.options,
			})
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if err := c.check(r, route, params, routeErr, reqErr, rec); err != nil {
			t.Errorf("%s %q: answered %d %s\nnot as %s says: %v", r.Method, r.URL.RequestURI(), rec.code(), truncate(rec.body.Bytes(), 512), doc, err)
		}
	})
}

// contract is the loaded document with its router.
type contract struct {
	doc     *openapi3.T
	router  routers.Router
	options *openapi3filter.Options
}

// contracts holds the documents loaded so far, by path.
var contracts sync.Map // string → func() (*contract, error)

// loadContract loads the document at doc once per test binary.
func loadContract(doc string) (*contract, error) {
	load, _ := contracts.LoadOrStore(doc, sync.OnceValues(func() (*contract, error) { return parseContract(doc) }))
	return load.(func() (*contract, error))()
}

func parseContract(docPath string) (*contract, error) {
	// The document is found from this file, not the working directory, so that any
	// package's tests can use Contract.
	_, self, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(self), "..", "..", "..", "..", filepath.FromSlash(docPath))
	// mrid is a UUID; kin-openapi checks the format only once it is defined.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC4122))
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	// Route by path alone: tests serve on httptest's host and port, not the document's server.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &contract{
		doc:    doc,
		router: router,
		options: &openapi3filter.Options{
			// Every status the server gives must be documented, headers and body with it.
			IncludeResponseStatus: true,
			MultiError:            true,
			// Validation must not edit the request the handler then serves.
			SkipSettingDefaults: true,
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		},
	}, nil
}

// check compares one exchange with the document.
func (c *contract) check(r *http.Request, route *routers.Route, params map[string]string, routeErr, reqErr error, rec *recorder) error {
	var re *routers.RouteError
	if errors.As(routeErr, &re) {
		switch re.Reason {
		case routers.ErrPathNotFound.Error():
			// kin-openapi's router says so for a templated path (/x/{id}) that the
			// document has with other methods only.
			if !c.hasPath(r) {
				return c.checkError(rec, http.StatusNotFound, "a path the document does not have")
			}
			if rec.header.Get("Allow") == "" {
				return errors.New("405 without an Allow header")
			}
			return c.checkError(rec, http.StatusMethodNotAllowed, "a method the document does not have on this path")
		case routers.ErrMethodNotAllowed.Error():
			if rec.header.Get("Allow") == "" {
				return errors.New("405 without an Allow header")
			}
			return c.checkError(rec, http.StatusMethodNotAllowed, "a method the document does not have on this path")
		}
	}
	if routeErr != nil {
		return fmt.Errorf("route: %w", routeErr)
	}
	if reqErr != nil && rec.code() != http.StatusBadRequest {
		return fmt.Errorf("the document refuses this request, so the answer must be 400: %w", reqErr)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 rec.code(),
		Header:                 rec.header,
		Options:                c.options,
	}
	in.SetBodyBytes(rec.body.Bytes())
	return openapi3filter.ValidateResponse(r.Context(), in)
}

// hasPath reports whether the document has r's path with any method.
func (c *contract) hasPath(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := c.router.FindRoute(probe); err == nil {
			return true
		}
	}
	return false
}

// undefinedInOpenAPI reports whether q has a parameter whose meaning OpenAPI 3.0
// leaves undefined: a name given more than once (for a parameter that is not an
// array), or a deepObject name nested deeper than one level. A value holding
// U+001F counts too: kin-openapi splits deepObject values on it internally.
func undefinedInOpenAPI(q url.Values) bool {
	for name, values := range q {
		if len(values) > 1 || strings.Count(name, "[") > 1 || strings.Contains(name, "\x1f") ||
			(len(values) == 1 && strings.Contains(values[0], "\x1f")) {
			return true
		}
	}
	return false
}

// checkError checks an answer outside the document's operations: status want and
// the Error object.
func (c *contract) checkError(rec *recorder, want int, what string) error {
	if rec.code() != want {
		return fmt.Errorf("%s must be answered %d", what, want)
	}
	if ct := rec.header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q; want application/json", ct)
	}
	var body any
	if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return c.doc.Components.Schemas["Error"].Value.VisitJSON(body, openapi3.VisitAsResponse())
}

// recorder passes an answer through to the client while it keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header // as sent, taken when the header is written
	body   bytes.Buffer
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
		rec.header = rec.ResponseWriter.Header().Clone()
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	rec.body.Write(b)
	return rec.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) code() int {
	if rec.status == 0 {
		// A handler that writes nothing answers 200 with no body.
		rec.status, rec.header = http.StatusOK, rec.ResponseWriter.Header().Clone()
	}
	return rec.status
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
