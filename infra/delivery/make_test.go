package delivery

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
		// pulumi up builds staging's image: it needs a Docker engine.
		{"deploy", "staging", []string{"make deploy cannot run:", "docker: no Docker engine answers", "pulumi: not logged in", "aws: no working AWS credentials (aws sts get-caller-identity: Unable to locate credentials"}},
		{"deploy", "production", []string{"make deploy cannot run:", "pulumi: not logged in to a state backend (pulumi whoami: error: PULUMI_ACCESS_TOKEN must be set", "aws: no working AWS credentials"}},
		{"promote", "production", []string{"make deploy cannot run:", "pulumi: not logged in", "aws: no working AWS credentials"}},
		{"verify", "staging", []string{"make verify cannot run:", "pulumi: not logged in", "aws: no working AWS credentials"}},
		{"seed", "staging", []string{"make seed cannot run:", "pulumi: not logged in", "aws: no working AWS credentials"}},
		{"release", "staging", []string{"make release cannot run:", "docker: no Docker engine answers", "aws: no working AWS credentials", "pulumi: not logged in"}},
	}
	for _, tt := range tests {
		t.Run(tt.target+"_"+tt.env, func(t *testing.T) {
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
			if tt.target == "deploy" && tt.env == "production" && strings.Contains(string(calls), "docker") {
				t.Errorf("make deploy ENV=production asked docker (%q): production is promoted, never built", calls)
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
		{"seed", "local", "ENV=local: want one of: staging production"},
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

// stagedImage is a verified staging digest as `make verify ENV=staging` records it.
const stagedImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a"

// promotedImage is that digest in production's own repository, where make promote copies it.
const promotedImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-production@sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a"

// workingTools writes docker, aws, pulumi and go stand-ins that succeed as they do
// with an engine, credentials and a login, log every call, and answer the few calls
// whose output the targets read. No real tool is reached.
func workingTools(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	stubs := map[string]string{
		"docker": `[ "$1" = info ] && echo 27.3.1; exit 0`,
		"aws": `case "$1 $2" in
  "sts get-caller-identity") echo arn:aws:iam::123456789012:user/ci ;;
  "ecr describe-images") echo sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a ;;
  "ecr get-login-password") echo ecr-token ;;
esac
exit 0`,
		"pulumi": `case "$1 $2" in
  "whoami ") echo ci ;;
  "config get") exit 1 ;; # asap:image is not set
  "stack output") echo '{"image":"` + stagedImage + `"}' ;;
esac
exit 0`,
		// promote -plan prints production's reference of the image.
		"go": `case "$*" in *"cmd/promote -plan"*) echo ` + promotedImage + ` ;; esac; exit 0`,
	}
	// A command reading a pipe logs once the pipe is drained, after its writer: the
	// log's order is the pipeline's, not a race.
	drain := map[string]string{"go": `case "$*" in *-password-stdin*) cat >/dev/null ;; esac` + "\n"}
	for name, body := range stubs {
		script := "#!/bin/sh\n" + drain[name] + "echo \"" + name + " $*\" >> " + log + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// The delivery flow, command by command: staging is `pulumi up` alone (the program
// builds and pushes), verify records the digest it verified, and production is that
// digest set as asap:image before `pulumi up`: never a build or a push.
func TestDeliveryCommands(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	checks := []string{"aws sts get-caller-identity --query Arn --output text --cli-connect-timeout 5 --cli-read-timeout 10", "pulumi whoami", "docker info --format {{.ServerVersion}}"}
	tests := []struct {
		name string
		args []string
		// verified is the content of VERIFIED_IMAGE; empty: no file.
		verified string
		// wantCalls are the calls after the tool checks, in order; wantFail a
		// failure's message instead.
		wantCalls []string
		wantFail  string
	}{
		{
			name:      "staging: pulumi up builds, pushes and deploys",
			args:      []string{"deploy", "ENV=staging"},
			wantCalls: []string{"pulumi config get --stack staging asap:image", "pulumi up --stack staging --yes"},
		},
		{
			name: "staging: a hand rollback to a digest",
			args: []string{"deploy", "ENV=staging", "IMAGE=" + stagedImage},
			wantCalls: []string{
				"aws ecr describe-images --registry-id 123456789012 --region us-east-1 --repository-name asap-staging --image-ids imageDigest=sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a --query imageDetails[0].imageDigest --output text",
				"pulumi config set --stack staging asap:image " + stagedImage, "pulumi up --stack staging --yes"},
		},
		{
			// The digest is copied into production's repository (created first by a
			// targeted update), and production runs it from there.
			name:     "production: promote the digest staging verified",
			args:     []string{"promote"},
			verified: stagedImage + "\n",
			wantCalls: []string{
				"aws ecr describe-images --registry-id 123456789012 --region us-east-1 --repository-name asap-staging --image-ids imageDigest=sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a --query imageDetails[0].imageDigest --output text",
				"go run ./infra/cmd/promote -plan -image " + stagedImage + " -repository asap-production",
				"pulumi config set --stack production asap:image " + promotedImage,
				"pulumi up --stack production --yes --target urn:pulumi:production::asap::aws:ecr/repository:Repository::asap --target urn:pulumi:production::asap::aws:ecr/lifecyclePolicy:LifecyclePolicy::asap",
				"aws ecr get-login-password --region us-east-1",
				"go run ./infra/cmd/promote -image " + stagedImage + " -repository asap-production -password-stdin",
				"pulumi up --stack production --yes"},
		},
		{
			// A clean checkout (no verified file): production's running digest, from the
			// backend, redeployed as it is (an AMI update), copied onto itself: a no-op.
			name: "production: redeploy what runs",
			args: []string{"deploy", "ENV=production", "IMAGE=" + promotedImage},
			wantCalls: []string{
				"aws ecr describe-images --registry-id 123456789012 --region us-east-1 --repository-name asap-production --image-ids imageDigest=sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a --query imageDetails[0].imageDigest --output text",
				"go run ./infra/cmd/promote -plan -image " + promotedImage + " -repository asap-production",
				"pulumi config set --stack production asap:image " + promotedImage,
				"pulumi up --stack production --yes --target urn:pulumi:production::asap::aws:ecr/repository:Repository::asap --target urn:pulumi:production::asap::aws:ecr/lifecyclePolicy:LifecyclePolicy::asap",
				"aws ecr get-login-password --region us-east-1",
				"go run ./infra/cmd/promote -image " + promotedImage + " -repository asap-production -password-stdin",
				"pulumi up --stack production --yes"},
		},
		{
			name:     "production: nothing verified, nothing promoted",
			args:     []string{"deploy", "ENV=production"},
			wantFail: "no verified staging image in",
		},
		{
			name:     "production: a tag is refused",
			args:     []string{"deploy", "ENV=production", "IMAGE=123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging:3f9c2a1b7d4e"},
			wantFail: "is not an ECR image by digest",
		},
		{
			name: "verify staging: the fill is required and the digest recorded",
			args: []string{"verify", "ENV=staging"},
			wantCalls: []string{"pulumi stack output --stack staging --json",
				"go run ./infra/cmd/rollout -outputs OUT/staging-outputs.json -require-fill -timeout 15m -verified-image OUT/staging-verified-image"},
		},
		{
			name: "verify production: no /v2/ad, PKEY overrides smokePkey",
			args: []string{"verify", "ENV=production", "PKEY=canary"},
			wantCalls: []string{"pulumi stack output --stack production --json",
				"go run ./infra/cmd/rollout -outputs OUT/production-outputs.json -pkey canary -timeout 15m -verified-image OUT/production-verified-image"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tools, log := workingTools(t)
			outDir := t.TempDir()
			verified := filepath.Join(t.TempDir(), "staging-verified-image")
			if tt.verified != "" {
				if err := os.WriteFile(verified, []byte(tt.verified), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"--no-print-directory", "-C", root, "GO=go", "OUT=" + outDir, "VERIFIED_IMAGE=" + verified}, tt.args...)
			cmd := exec.Command("make", args...)
			cmd.Env = append(os.Environ(), "PATH="+tools+":/usr/bin:/bin", "MAKEFLAGS=", "IMAGE=")
			out, err := cmd.CombinedOutput()
			if tt.wantFail != "" {
				if err == nil || !strings.Contains(string(out), tt.wantFail) {
					t.Fatalf("make %s = %v, want a failure saying %q:\n%s", strings.Join(tt.args, " "), err, tt.wantFail, out)
				}
			} else if err != nil {
				t.Fatalf("make %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			raw, _ := os.ReadFile(log)
			var calls []string
			for _, c := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if c != "" && !slices.Contains(checks, c) {
					calls = append(calls, c)
				}
			}
			for _, c := range calls {
				if strings.HasPrefix(c, "docker ") {
					t.Errorf("make %s ran %q: no target builds or pushes an image itself", strings.Join(tt.args, " "), c)
				}
			}
			if tt.wantFail != "" {
				for _, c := range calls {
					if strings.HasPrefix(c, "pulumi ") {
						t.Errorf("make %s ran %q before refusing", strings.Join(tt.args, " "), c)
					}
				}
				return
			}
			var want []string
			for _, c := range tt.wantCalls {
				want = append(want, strings.ReplaceAll(c, "OUT/", outDir+"/"))
			}
			if !slices.Equal(calls, want) {
				t.Errorf("make %s ran:\n  %s\nwant:\n  %s", strings.Join(tt.args, " "), strings.Join(calls, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// make release: test, staging deployed and verified, then production promoted and
// verified, in that order, each step a target of its own.
func TestReleaseOrder(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := regexp.MustCompile(`(?ms)^release:[^\n]*\n((?:\t[^\n]*\n)+)`).FindSubmatch(makefile)
	if recipe == nil {
		t.Fatal("the Makefile has no release target")
	}
	var steps []string
	for _, m := range regexp.MustCompile(`\$\(MAKE\) --no-print-directory ([^\n]+)`).FindAllSubmatch(recipe[1], -1) {
		steps = append(steps, string(m[1]))
	}
	want := []string{"test", "preflight ENV=production", "deploy ENV=staging IMAGE=", "verify ENV=staging", "promote IMAGE=", "verify ENV=production"}
	if !slices.Equal(steps, want) {
		t.Errorf("make release runs:\n  %s\nwant:\n  %s", strings.Join(steps, "\n  "), strings.Join(want, "\n  "))
	}
}

// make login: the one backend the stacks live in, with the passphrase of their
// secrets for a self-managed one; what is missing is named before pulumi runs.
func TestLogin(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tests := []struct {
		name     string
		env      []string
		wantFail string
		wantCall string
	}{
		{"no backend", nil, "set PULUMI_BACKEND_URL", ""},
		{"s3 without a passphrase", []string{"PULUMI_BACKEND_URL=s3://asap-state/asap"}, "set PULUMI_CONFIG_PASSPHRASE", ""},
		{"s3 with a passphrase", []string{"PULUMI_BACKEND_URL=s3://asap-state/asap", "PULUMI_CONFIG_PASSPHRASE=p"}, "", "pulumi login s3://asap-state/asap"},
		{"s3 with a passphrase file", []string{"PULUMI_BACKEND_URL=s3://asap-state/asap", "PULUMI_CONFIG_PASSPHRASE_FILE=/run/p"}, "", "pulumi login s3://asap-state/asap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tools, log := workingTools(t)
			cmd := exec.Command("make", "--no-print-directory", "-C", root, "login")
			cmd.Env = append(os.Environ(), "PATH="+tools+":/usr/bin:/bin", "MAKEFLAGS=",
				"PULUMI_BACKEND_URL=", "PULUMI_CONFIG_PASSPHRASE=", "PULUMI_CONFIG_PASSPHRASE_FILE=")
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			calls, _ := os.ReadFile(log)
			if tt.wantFail != "" {
				if err == nil || !strings.Contains(string(out), tt.wantFail) || len(calls) > 0 {
					t.Errorf("make login = %v, ran %q, output %q; want a failure saying %q before any call", err, calls, out, tt.wantFail)
				}
				return
			}
			if err != nil || strings.TrimSpace(string(calls)) != tt.wantCall {
				t.Errorf("make login = %v, ran %q; want %q\n%s", err, calls, tt.wantCall, out)
			}
		})
	}
}
