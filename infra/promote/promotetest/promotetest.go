// Package promotetest runs an in-process registry on 127.0.0.1 that behaves as ECR does
// where promotion cares: go-containerregistry's registry (pkg/registry), behind Basic
// authentication with the user AWS (ECR's challenge), refusing a manifest pushed to a
// tag that exists (ECR's immutable tags).
package promotetest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
)

// Ref parses a reference a test built, failing the test if it does not parse.
func Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Registry is a running fake ECR.
type Registry struct {
	// Host is host:port, the registry part of an image reference.
	Host string

	password string
	next     http.Handler
	mu       sync.Mutex
	tags     map[string]bool // repository:tag pushed so far
	pushes   int
}

// New starts a registry; password "" accepts anonymous requests. It stops when the
// test ends.
func New(t testing.TB, password string) *Registry {
	t.Helper()
	r := &Registry{password: password, next: registry.New(registry.Logger(log.New(io.Discard, "", 0))), tags: map[string]bool{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// ManifestPushes is how many manifests were pushed (tags and digests).
func (r *Registry) ManifestPushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pushes
}

// ServeHTTP checks the credentials and the tag's immutability, then serves the registry.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.password != "" {
		if user, pass, ok := req.BasicAuth(); !ok || user != "AWS" || pass != r.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="https://`+r.Host+`/",service="ecr.amazonaws.com"`)
			http.Error(w, `{"errors":[{"code":"DENIED","message":"Not Authorized"}]}`, http.StatusUnauthorized)
			return
		}
	}
	repo, ref, isManifest := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
	if isManifest && req.Method == http.MethodPut {
		r.mu.Lock()
		r.pushes++
		key := repo + ":" + ref
		exists := r.tags[key]
		if !strings.HasPrefix(ref, "sha256:") {
			r.tags[key] = true
		}
		r.mu.Unlock()
		if exists {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"errors":[{"code":"TAG_INVALID","message":"The image tag '` + ref + `' already exists in the '` + repo +
				`' repository and cannot be overwritten because the repository is immutable."}]}`))
			return
		}
	}
	r.next.ServeHTTP(w, req)
}
