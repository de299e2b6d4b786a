package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"asap/infra/promote/promotetest"
)

// make promote's two calls, against a registry that wants ECR's user and password:
// -plan prints the reference asap:image gets, the copy prints the same once done.
func TestRunPlanThenCopy(t *testing.T) {
	reg := promotetest.New(t, "token-from-aws")
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "token-from-aws"}))
	img, _ := random.Image(256, 2)
	if err := remote.Write(promotetest.Ref(t, reg.Host+"/asap-staging:src-1"), img, auth); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	source := reg.Host + "/asap-staging@" + digest.String()
	want := reg.Host + "/asap-production@" + digest.String() + "\n"

	var plan, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-plan", "-image", source, "-repository", "asap-production"}, strings.NewReader(""), &plan, &stderr); err != nil {
		t.Fatalf("plan: %v %s", err, stderr.String())
	}
	if plan.String() != want {
		t.Errorf("plan printed %q, want %q", plan.String(), want)
	}
	if pushes := reg.ManifestPushes(); pushes != 1 {
		t.Errorf("-plan pushed %d manifests", pushes-1)
	}

	var out bytes.Buffer
	args := []string{"-image", source, "-repository", "asap-production", "-password-stdin"}
	if err := run(context.Background(), args, strings.NewReader("token-from-aws\n"), &out, &stderr); err != nil {
		t.Fatalf("copy: %v %s", err, stderr.String())
	}
	if out.String() != want {
		t.Errorf("copy printed %q, want %q", out.String(), want)
	}
	if _, err := remote.Head(promotetest.Ref(t, strings.TrimSpace(want)), auth); err != nil {
		t.Errorf("the copy is not in the registry: %v", err)
	}
}

func TestRunBadInput(t *testing.T) {
	tests := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"-repository", "asap-production"}, "", "-image and -repository are required"},
		{[]string{"-image", "x.example/a@sha256:" + strings.Repeat("a", 64)}, "", "-image and -repository are required"},
		{[]string{"-plan", "-image", "x.example/a:latest", "-repository", "b"}, "", "want REGISTRY/REPOSITORY@sha256"},
		{[]string{"-image", "127.0.0.1:1/a@sha256:" + strings.Repeat("a", 64), "-repository", "b", "-password-stdin"}, "\n", "stdin holds no password"},
		{[]string{"-image", "a", "extra"}, "", "unexpected arguments"},
	}
	for _, tt := range tests {
		var out, stderr bytes.Buffer
		err := run(context.Background(), tt.args, strings.NewReader(tt.stdin), &out, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("promote %q: got %v, want an error containing %q", tt.args, err, tt.want)
		}
		if out.Len() > 0 {
			t.Errorf("promote %q printed %q on failure", tt.args, out.String())
		}
	}
}
