package delivery

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// root is the repository root, relative to this package.
const root = "../.."

// dockerfile is one parsed Dockerfile.
type dockerfile struct {
	path   string
	raw    []byte
	stages []instructions.Stage
}

func parseDockerfile(t *testing.T, name string) dockerfile {
	t.Helper()
	path := filepath.Join(root, "docker", name)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return dockerfile{path: path, raw: raw, stages: stages}
}

// stage returns the stage called name.
func (d dockerfile) stage(name string) (instructions.Stage, bool) {
	for _, s := range d.stages {
		if s.Name == name {
			return s, true
		}
	}
	return instructions.Stage{}, false
}

// final is the last stage: what `docker build` without --target produces.
func (d dockerfile) final() instructions.Stage { return d.stages[len(d.stages)-1] }

// env is the environment a stage's commands see: its own ENV lines over those of
// the stages it is built FROM.
func (d dockerfile) env(s instructions.Stage) map[string]string {
	env := map[string]string{}
	if base, ok := d.stage(s.BaseName); ok && base.Name != s.Name {
		env = d.env(base)
	}
	for _, c := range s.Commands {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	return env
}

// args are the ARGs a stage declares, with their defaults.
func args(s instructions.Stage) map[string]string {
	out := map[string]string{}
	for _, c := range s.Commands {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				out[kv.Key] = kv.ValueString()
			}
		}
	}
	return out
}

// goBuild finds the stage and the RUN line that build the binary called output.
func (d dockerfile) goBuild(t *testing.T, output string) (instructions.Stage, string) {
	t.Helper()
	for _, s := range d.stages {
		for _, c := range s.Commands {
			run, ok := c.(*instructions.RunCommand)
			if !ok || !run.PrependShell || len(run.CmdLine) != 1 {
				continue
			}
			if cmd := run.CmdLine[0]; strings.Contains(cmd, "go build") && strings.Contains(cmd, "-o "+output+" ") {
				return s, cmd
			}
		}
	}
	t.Fatalf("%s: no stage runs `go build ... -o %s`", d.path, output)
	return instructions.Stage{}, ""
}

func commands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if t, ok := c.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// user is the USER a stage ends with; empty when it sets none.
func user(s instructions.Stage) string {
	users := commands[*instructions.UserCommand](s)
	if len(users) == 0 {
		return ""
	}
	return users[len(users)-1].User
}

func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "root" || name == "0"
}

func exposed(s instructions.Stage) []string {
	var ports []string
	for _, e := range commands[*instructions.ExposeCommand](s) {
		ports = append(ports, e.Ports...)
	}
	return ports
}

// goVersion is the go directive of service/go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "service", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("service/go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfiles(t *testing.T) {
	tests := []struct {
		file        string
		wantEnv     map[string]string
		wantExposed []string
		// wantNoEnv are variables the image must not set.
		wantNoEnv []string
	}{
		{
			file:        "local.Dockerfile",
			wantEnv:     map[string]string{"ASAP_ENV": "local-docker", "ASAP_DEBUG": "true", "GOMEMLIMIT": "256MiB"},
			wantExposed: []string{"8080", "9090"},
		},
		{
			file:        "staging.Dockerfile",
			wantEnv:     map[string]string{"ASAP_ENV": "staging"},
			wantExposed: []string{"8080"},
			wantNoEnv:   []string{"ASAP_DEBUG", "GOMEMLIMIT"},
		},
		{
			file:        "production.Dockerfile",
			wantEnv:     map[string]string{"ASAP_ENV": "production"},
			wantExposed: []string{"8080"},
			wantNoEnv:   []string{"ASAP_DEBUG", "GOMEMLIMIT"},
		},
	}
	goVer := goVersion(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d := parseDockerfile(t, tt.file)
			if len(d.stages) < 2 {
				t.Fatalf("%d stages, want a multi-stage build (>= 2 FROM)", len(d.stages))
			}

			// Every base image is pinned to a version, never latest; the Go image is
			// at least the toolchain service/go.mod asks for.
			for _, s := range d.stages {
				if _, local := d.stage(s.BaseName); local {
					continue
				}
				image, tag, ok := strings.Cut(s.BaseName[strings.LastIndex(s.BaseName, "/")+1:], ":")
				if !ok || tag == "" || tag == "latest" {
					t.Errorf("stage %q: base image %q has no pinned tag", s.Name, s.BaseName)
				}
				if image == "golang" && !strings.HasPrefix(tag, goVer) {
					t.Errorf("stage %q: %s, want golang:%s to match service/go.mod", s.Name, s.BaseName, goVer)
				}
			}

			// The build: static, trimmed, version stamped.
			build, cmd := d.goBuild(t, "/out/asap")
			if got := d.env(build)["CGO_ENABLED"]; got != "0" && !strings.Contains(cmd, "CGO_ENABLED=0 ") {
				t.Errorf("build stage %q: CGO_ENABLED=%q, want 0", build.Name, got)
			}
			for _, want := range []string{"-trimpath", "-ldflags", "-X main.version=${VERSION}"} {
				if !strings.Contains(cmd, want) {
					t.Errorf("go build %q lacks %q", cmd, want)
				}
			}
			if _, ok := args(build)["VERSION"]; !ok {
				t.Errorf("build stage %q declares no ARG VERSION", build.Name)
			}

			// The image: minimal, non-root, the binary at /asap.
			final := d.final()
			if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") && final.BaseName != "scratch" {
				t.Errorf("final stage FROM %s, want distroless/static or scratch", final.BaseName)
			}
			if u := user(final); isRoot(u) {
				t.Errorf("final stage USER %q, want a non-root user", u)
			}
			copied := false
			for _, c := range commands[*instructions.CopyCommand](final) {
				if c.From == build.Name && slices.Equal(c.SourcePaths, []string{"/out/asap"}) && c.DestPath == "/asap" {
					copied = true
				}
			}
			if !copied {
				t.Errorf("final stage does not COPY --from=%s /out/asap /asap", build.Name)
			}
			entry := commands[*instructions.EntrypointCommand](final)
			if len(entry) == 0 || entry[len(entry)-1].PrependShell || !slices.Equal(entry[len(entry)-1].CmdLine, []string{"/asap"}) {
				t.Errorf(`final stage ENTRYPOINT is not ["/asap"] (exec form)`)
			}
			checks := commands[*instructions.HealthCheckCommand](final)
			if len(checks) == 0 || !slices.Equal(checks[len(checks)-1].Health.Test, []string{"CMD", "/asap", "healthcheck"}) {
				t.Errorf(`final stage HEALTHCHECK is not CMD ["/asap", "healthcheck"]`)
			}

			env := d.env(final)
			for k, want := range tt.wantEnv {
				if got := env[k]; got != want {
					t.Errorf("final stage %s=%q, want %q", k, got, want)
				}
			}
			for _, k := range tt.wantNoEnv {
				if v, ok := env[k]; ok {
					t.Errorf("final stage sets %s=%q, want it unset (the stack's env file decides)", k, v)
				}
			}
			if got := exposed(final); !slices.Equal(got, tt.wantExposed) {
				t.Errorf("final stage EXPOSE %q, want %q", got, tt.wantExposed)
			}
		})
	}
}

// Every stage that ships (is not a build stage) runs as a non-root user.
func TestNoRootImages(t *testing.T) {
	for _, file := range []string{"local.Dockerfile", "staging.Dockerfile", "production.Dockerfile"} {
		d := parseDockerfile(t, file)
		for i, s := range d.stages {
			if strings.HasPrefix(s.BaseName, "golang:") {
				continue
			}
			if _, ok := d.stage(s.BaseName); ok {
				continue // FROM an earlier stage: a build step
			}
			if u := user(s); isRoot(u) {
				t.Errorf("%s: stage %d %q (FROM %s) ships with USER %q, want non-root", file, i+1, s.Name, s.BaseName, u)
			}
		}
	}
}

// A lower memory limit locally, as the original team lowered the JVM heap.
func TestLocalMemoryLimit(t *testing.T) {
	d := parseDockerfile(t, "local.Dockerfile")
	limit := d.env(d.final())["GOMEMLIMIT"]
	n, err := strconv.Atoi(strings.TrimSuffix(limit, "MiB"))
	if err != nil || !strings.HasSuffix(limit, "MiB") {
		t.Fatalf("GOMEMLIMIT=%q, want a size in MiB", limit)
	}
	if n > 512 {
		t.Errorf("GOMEMLIMIT=%dMiB, want at most 512MiB locally", n)
	}
}

// Staging and production are byte for byte the same file but for the ASAP_ENV line.
func TestStagingProductionIdentical(t *testing.T) {
	staging := parseDockerfile(t, "staging.Dockerfile").raw
	production := parseDockerfile(t, "production.Dockerfile").raw
	envLine := regexp.MustCompile(`(?m)^ENV ASAP_ENV=(\S+)$`)
	for name, raw := range map[string][]byte{"staging": staging, "production": production} {
		m := envLine.FindAllSubmatch(raw, -1)
		if len(m) != 1 || string(m[0][1]) != name {
			t.Errorf("%s.Dockerfile: want exactly one line ENV ASAP_ENV=%s, found %q", name, name, m)
		}
	}
	normal := func(b []byte) string { return envLine.ReplaceAllString(string(b), "ENV ASAP_ENV=<env>") }
	if s, p := normal(staging), normal(production); s != p {
		sl, pl := strings.Split(s, "\n"), strings.Split(p, "\n")
		for i := range max(len(sl), len(pl)) {
			var a, b string
			if i < len(sl) {
				a = sl[i]
			}
			if i < len(pl) {
				b = pl[i]
			}
			if a != b {
				t.Fatalf("staging and production differ beyond ASAP_ENV, first at line %d:\n  staging:    %q\n  production: %q", i+1, a, b)
			}
		}
	}
}

// docker/compose.yaml builds targets that exist, from Dockerfiles that exist.
func TestComposeTargets(t *testing.T) {
	compose, err := os.ReadFile(filepath.Join(root, "docker", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfiles := regexp.MustCompile(`(?m)^\s+dockerfile:\s*(\S+)\s*$`).FindAllSubmatch(compose, -1)
	if len(dockerfiles) == 0 {
		t.Fatal("compose.yaml builds nothing")
	}
	for _, m := range dockerfiles {
		if string(m[1]) != "docker/local.Dockerfile" {
			t.Errorf("compose.yaml builds %s, want docker/local.Dockerfile (ASAP_ENV=local-docker)", m[1])
		}
	}
	local := parseDockerfile(t, "local.Dockerfile")
	targets := regexp.MustCompile(`(?m)^\s+target:\s*(\S+)\s*$`).FindAllSubmatch(compose, -1)
	for _, want := range []string{"asap", "adserver"} {
		if !slices.ContainsFunc(targets, func(m [][]byte) bool { return string(m[1]) == want }) {
			t.Errorf("compose.yaml builds no target %q", want)
		}
	}
	for _, m := range targets {
		if _, ok := local.stage(string(m[1])); !ok {
			t.Errorf("compose.yaml builds target %q, which local.Dockerfile does not have", m[1])
		}
	}
	if local.final().Name != "asap" {
		t.Errorf("local.Dockerfile's last stage is %q, want asap (the default target)", local.final().Name)
	}
}
