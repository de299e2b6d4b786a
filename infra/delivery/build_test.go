package delivery

import (
	"bytes"
	"debug/elf"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildFromDockerfile runs the `go build ... -o output` line of a Dockerfile, with
// its stage's ENV and ARGs, in service/ (the stages' WORKDIR /src/service) and
// returns the binary. So the test builds exactly what the image builds.
func buildFromDockerfile(t *testing.T, dockerfile, output, version string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the service binary; skipped with -short")
	}
	d := parseDockerfile(t, dockerfile)
	stage, cmd := d.goBuild(t, output)
	out := t.TempDir()
	cmd = strings.ReplaceAll(cmd, "/out/", out+"/")

	env := os.Environ()
	for k, v := range args(stage) {
		env = append(env, k+"="+v)
	}
	for k, v := range d.env(stage) {
		env = append(env, k+"="+v)
	}
	// What BuildKit sets: the target platform (here the test's own, so the binary runs).
	env = append(env, "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH, "VERSION="+version)

	sh := exec.Command("sh", "-c", cmd)
	sh.Dir = filepath.Join(root, "service")
	sh.Env = env
	if outb, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build %q failed: %v\n%s", cmd, err, outb)
	}
	return filepath.Join(out, filepath.Base(output))
}

func TestStaticBuild(t *testing.T) {
	bin := buildFromDockerfile(t, "staging.Dockerfile", "/out/asap", "delivery-test")
	checkStatic(t, bin)

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("asap version: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "delivery-test" {
		t.Errorf("asap version = %q, want %q (stamped by -ldflags -X main.version)", got, "delivery-test")
	}

	t.Run("healthcheck", func(t *testing.T) { testHealthcheckBinary(t, bin) })
}

// The demo ad server that compose runs builds from local.Dockerfile's adserver stage.
func TestStaticBuildAdserver(t *testing.T) {
	checkStatic(t, buildFromDockerfile(t, "local.Dockerfile", "/out/adserver", ""))
}

// checkStatic fails unless bin is a static, stripped ELF binary, which is what runs
// on distroless/static: no dynamic loader, no shared libraries.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): it is not static; is CGO_ENABLED=0 set?")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q (%v), want none", libs, err)
	}
	if f.Section(".debug_info") != nil {
		t.Error("the binary has DWARF (.debug_info): want it stripped with -ldflags -s -w")
	}
}

// testHealthcheckBinary runs `asap healthcheck` as the container health check does.
func testHealthcheckBinary(t *testing.T, bin string) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer up.Close()
	stopped := httptest.NewServer(http.NotFoundHandler())
	stopped.Close()
	_, upPort, _ := net.SplitHostPort(up.Listener.Addr().String())
	_, stoppedPort, _ := net.SplitHostPort(stopped.Listener.Addr().String())

	tests := []struct {
		name     string
		args     []string
		env      []string
		wantExit int
	}{
		{"running server, -url", []string{"healthcheck", "-url", up.URL + "/healthz"}, nil, 0},
		// As in the task: ASAP_ENV=production, no ASAP_REDIS_URL. The probe must not
		// fail on configuration the server needs and the probe does not.
		{"running server, ASAP_HTTP_ADDR", []string{"healthcheck"}, []string{"ASAP_ENV=production", "ASAP_HTTP_ADDR=:" + upPort}, 0},
		{"stopped server, -url", []string{"healthcheck", "-url", stopped.URL + "/healthz"}, nil, 1},
		{"stopped server, ASAP_HTTP_ADDR", []string{"healthcheck"}, []string{"ASAP_ENV=production", "ASAP_HTTP_ADDR=:" + stoppedPort}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			got := cmd.ProcessState.ExitCode()
			if got != tt.wantExit {
				t.Fatalf("asap %s: exit %d (%v), want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), got, err, tt.wantExit, stdout.String(), stderr.String())
			}
			if tt.wantExit != 0 {
				reason := strings.TrimSpace(stderr.String())
				if reason == "" || strings.Contains(reason, "\n") || !strings.Contains(reason, "healthcheck") {
					t.Errorf("stderr = %q, want one line with the reason", stderr.String())
				}
			}
		})
	}
}
