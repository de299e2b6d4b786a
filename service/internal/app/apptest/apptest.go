// Package apptest starts the whole ASAP server through app.Run, for the tests of
// app and of the packages that test what it serves end to end (the ad-ops page
// in a real browser).
package apptest

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"asap/service/internal/app"
	"asap/service/internal/logtest"
	"asap/service/internal/testwait"
)

// Instance is an ASAP server started by Start.
type Instance struct {
	// URL and Admin are the public and admin listeners' base URLs (Admin empty
	// when the admin listener is off).
	URL, Admin string
	// Stop cancels Run's context: what SIGTERM does.
	Stop context.CancelFunc
	// Done is closed when Run has returned; Err is then what it returned.
	Done chan struct{}
	Err  error
	// Logs holds what the server wrote to stderr.
	Logs *logtest.Buffer
}

// CleanEnv unsets every ASAP_ variable of the process (but ASAP_TEST_ ones) and
// GOMEMLIMIT for the test, so that only what the test sets configures ASAP.
func CleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ASAP_") && !strings.HasPrefix(k, "ASAP_TEST_") || k == "GOMEMLIMIT" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// Start runs app.Run in the local environment on free ports, with env on top,
// and waits until /readyz answers 200. It stops the server at cleanup.
func Start(t *testing.T, env map[string]string, opts ...func(*app.Options)) *Instance {
	t.Helper()
	CleanEnv(t)
	base := map[string]string{
		"ASAP_ENV":          "local",
		"ASAP_HTTP_ADDR":    "127.0.0.1:0",
		"ASAP_ADMIN_ADDR":   "127.0.0.1:0",
		"ASAP_MEMORY_LIMIT": "",
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{Stop: cancel, Done: make(chan struct{}), Logs: &logtest.Buffer{}}
	listening := make(chan struct{})
	o := app.Options{
		Version: "test",
		Stdout:  io.Discard,
		Stderr:  in.Logs,
		Listening: func(public, admin net.Addr) {
			in.URL = "http://" + public.String()
			if admin != nil {
				in.Admin = "http://" + admin.String()
			}
			close(listening)
		},
	}
	for _, f := range opts {
		f(&o)
	}
	go func() {
		defer close(in.Done)
		in.Err = app.Run(ctx, o)
	}()
	select {
	case <-listening:
	case <-in.Done:
		t.Fatalf("app.Run returned before listening: %v\n%s", in.Err, in.Logs)
	}
	t.Cleanup(func() {
		cancel()
		testwait.Recv(t, "app.Run to return after cancel", in.Done)
	})
	testwait.For(t, "/readyz to answer 200", func() bool { return StatusOf(in.URL+"/readyz") == http.StatusOK })
	return in
}

// StatusOf is the status of a GET of url; 0 when it got no answer.
func StatusOf(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}
