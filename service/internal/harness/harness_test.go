package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"
)

func TestProcReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	pid := os.Getpid()
	rss, peak, err := Memory(pid)
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("Memory = %d, %d, %v; want 0 < rss <= peak", rss, peak, err)
	}
	if n, err := OpenFiles(pid); err != nil || n < 3 {
		t.Errorf("OpenFiles = %d, %v; want at least stdin, stdout and stderr", n, err)
	}
	for CPU(pid) == 0 { // spin until the clock ticks once
	}
}

func TestWaitHTTP(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n++; n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := WaitGet(context.Background(), srv.URL, http.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WaitGet(ctx, srv.URL, http.StatusTeapot, nil); err == nil {
		t.Error("WaitGet with an ended context: no error")
	}
}

func TestEnvDropsWhatChangesAChild(t *testing.T) {
	t.Setenv("ASAP_X", "1")
	t.Setenv("GOGC", "1")
	for _, kv := range Env("ASAP_Y=2") {
		if kv == "ASAP_X=1" || kv == "GOGC=1" {
			t.Errorf("Env kept %s", kv)
		}
	}
}
