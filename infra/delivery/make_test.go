package delivery

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stubTools writes docker, aws and pulumi stand-ins that fail as they do on a machine
// without a Docker engine, AWS credentials or a Pulumi login, and log every call to
// calls.log. It returns the directory to put first on PATH and the log's path.
func stubTools(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	stubs := map[string]string{
		"docker": `echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`,
		"aws":    `echo "Unable to locate credentials. You can configure credentials by running \"aws configure\"." >&2; exit 255`,
		"pulumi": `echo "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions" >&2; exit 255`,
	}
	for name, body := range stubs {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// Each release target checks its tools and credentials before it does anything, and
// says what is missing. No tool is asked for more than its check.
func TestMakeTargetsFailEarly(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tests := []struct {
		target string
		env    string
		// wantIn are lines the failure must contain.
		wantIn []string
	}{
		{"image", "staging", []string{"make image cannot run:", "docker: no Docker engine answers (Cannot connect to the Docker daemon"}},
		{"push", "staging", []string{"make push cannot run:", "docker: no Docker engine answers", "aws: no working AWS credentials (aws sts get-caller-identity: Unable to locate credentials"}},
		{"deploy", "production", []string{"make deploy cannot run:", "pulumi: not logged in to a state backend (pulumi whoami: error: PULUMI_ACCESS_TOKEN must be set", "aws: no working AWS credentials"}},
		{"verify", "staging", []string{"make verify cannot run:", "pulumi: not logged in", "aws: no working AWS credentials"}},
		{"seed", "staging", []string{"make seed cannot run:", "pulumi: not logged in", "aws: no working AWS credentials"}},
		{"release", "staging", []string{"make release cannot run:", "docker: no Docker engine answers", "aws: no working AWS credentials", "pulumi: not logged in"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			stubs, log := stubTools(t)
			cmd := exec.Command("make", "--no-print-directory", "-C", root, tt.target, "ENV="+tt.env)
			// Only the stubs and the system's basics: no real docker, aws or pulumi is reached.
			cmd.Env = append(os.Environ(), "PATH="+stubs+":"+filepath.Dir(goBinary(t))+":/usr/bin:/bin", "MAKEFLAGS=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatalf("make %s succeeded, want it to fail on the missing tools", tt.target)
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("make %s: stderr lacks %q:\n%s", tt.target, want, stderr.String())
				}
			}
			calls, _ := os.ReadFile(log)
			allowed := []string{"docker info --format {{.ServerVersion}}", "pulumi whoami",
				"aws sts get-caller-identity --query Arn --output text --cli-connect-timeout 5 --cli-read-timeout 10"}
			for _, call := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
				if call != "" && !slices.Contains(allowed, call) {
					t.Errorf("make %s ran %q before failing; want only the checks", tt.target, call)
				}
			}
		})
	}
}

func TestMakeTargetsRejectUnknownEnv(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tests := []struct{ target, env, want string }{
		{"image", "qa", "ENV=qa: want one of: local staging production"},
		{"push", "local", "ENV=local: want one of: staging production"},
		{"deploy", "prod", "ENV=prod: want one of: staging production"},
		{"verify", "", "ENV=: want one of: staging production"},
	}
	for _, tt := range tests {
		stubs, log := stubTools(t)
		cmd := exec.Command("make", "--no-print-directory", "-C", root, tt.target, "ENV="+tt.env)
		cmd.Env = append(os.Environ(), "PATH="+stubs+":/usr/bin:/bin", "MAKEFLAGS=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("make %s ENV=%s = %v, output %q; want a failure saying %q", tt.target, tt.env, err, out, tt.want)
		}
		if calls, _ := os.ReadFile(log); len(calls) > 0 {
			t.Errorf("make %s ENV=%s ran %q; want nothing run for a bad ENV", tt.target, tt.env, calls)
		}
	}
}

// goBinary is the go command running the tests, so a target that needs go finds it.
func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	return p
}
