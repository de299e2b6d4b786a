package delivery

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The pipeline calls only Makefile targets, with ENV set where the target needs one,
// deploys and verifies staging, and only then promotes production: no image is built
// or pushed by a step of its own (pulumi up builds staging's; production is never built).
func TestJenkinsfileCallsOnlyMakeTargets(t *testing.T) {
	jenkinsfile, err := os.ReadFile(filepath.Join(root, "Jenkinsfile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z-]+):`).FindAllSubmatch(makefile, -1) {
		targets[string(m[1])] = true
	}

	steps := regexp.MustCompile(`\bsh\s*\(?\s*(?:'([^']*)'|"([^"]*)")`).FindAllSubmatch(jenkinsfile, -1)
	if len(steps) == 0 {
		t.Fatal("the Jenkinsfile runs no sh steps")
	}
	makeCall := regexp.MustCompile(`^make ([a-z-]+)((?: [A-Z_]+=[a-z0-9-]+)*)$`)
	var order []string
	for _, s := range steps {
		cmd := string(s[1]) + string(s[2])
		m := makeCall.FindStringSubmatch(cmd)
		if m == nil {
			t.Errorf("sh %q: want only `make TARGET [VAR=value...]`", cmd)
			continue
		}
		if !targets[m[1]] {
			t.Errorf("sh %q: the Makefile has no target %q", cmd, m[1])
		}
		if slices.Contains([]string{"image", "deploy", "verify", "preflight"}, m[1]) && !strings.Contains(m[2], " ENV=") {
			t.Errorf("sh %q: want ENV= set explicitly (the Makefile's default is not a release decision)", cmd)
		}
		order = append(order, cmd)
	}

	want := []string{
		"make test",
		"make preflight ENV=production", "make login",
		"make deploy ENV=staging", "make verify ENV=staging",
		"make promote", "make verify ENV=production",
	}
	if !slices.Equal(order, want) {
		t.Errorf("pipeline steps:\n  %s\nwant:\n  %s", strings.Join(order, "\n  "), strings.Join(want, "\n  "))
	}
	if strings.Count(string(jenkinsfile), "when { branch 'main' }") != 2 {
		t.Errorf("want the staging and production stages to run on main only (when { branch 'main' })")
	}
	// One backend, the operators': its URL and the stacks' passphrase reach make login
	// and every pulumi call.
	for _, env := range []string{"PULUMI_BACKEND_URL = credentials('pulumi-backend-url')", "PULUMI_CONFIG_PASSPHRASE = credentials('pulumi-config-passphrase')"} {
		if !strings.Contains(string(jenkinsfile), env) {
			t.Errorf("the Jenkinsfile's environment lacks %s", env)
		}
	}
}
