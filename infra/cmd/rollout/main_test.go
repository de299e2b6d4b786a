package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"asap/infra/rollout/rollouttest"
)

// awsEnv points the SDK's default configuration at fake, with static credentials
// and no shared config files, so nothing reaches AWS.
func awsEnv(t *testing.T, fake *rollouttest.Server) {
	t.Setenv("AWS_ENDPOINT_URL", fake.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

func TestRunWithOutputs(t *testing.T) {
	const td = "asap-staging:7"
	fake := rollouttest.NewServer(t, rollouttest.Frame{
		Deployments: []rollouttest.Deployment{{ID: "ecs-svc/7", Status: "PRIMARY", TaskDefinition: td, RolloutState: "COMPLETED", Desired: 1, Running: 1}},
		Tasks:       []rollouttest.Task{{ID: "t1", TaskDefinition: td, LastStatus: "RUNNING", Instance: "i-0a", HostPort: 32768}},
		Targets:     []rollouttest.Target{{Instance: "i-0a", Port: 32768, State: "healthy"}},
	})
	awsEnv(t, fake)
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" {
			w.Write([]byte(`{"mrid":"m","pkey":"demo-feed","status":"OK"}`))
			return
		}
		w.Write([]byte("ok"))
	}))
	defer lb.Close()

	outputs, err := json.Marshal(map[string]string{
		"url": lb.URL, "clusterName": rollouttest.Cluster, "serviceName": rollouttest.Service,
		"taskDefinitionArn": rollouttest.TaskDefinitionARN(td), "targetGroupArn": rollouttest.TargetGroupARN,
		"region": rollouttest.Region, "repositoryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap",
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "staging-outputs.json")
	if err := os.WriteFile(file, outputs, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"outputs file", []string{"-outputs", file}, ""},
		{"outputs on stdin", []string{"-outputs", "-"}, string(outputs)},
		{"flags only", []string{"-cluster", rollouttest.Cluster, "-service", rollouttest.Service, "-task-definition", td,
			"-target-group", rollouttest.TargetGroupARN, "-url", lb.URL, "-region", rollouttest.Region}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(tt.args, "-pkey", "demo-feed", "-interval", "5ms", "-timeout", "10s")
			if err := run(context.Background(), args, strings.NewReader(tt.stdin), &stdout, &stderr); err != nil {
				t.Fatalf("run(%q) = %v\nstdout:\n%s", args, err, stdout.String())
			}
			if !strings.Contains(stdout.String(), "verified: asap-staging:7") {
				t.Errorf("stdout lacks the verified line:\n%s", stdout.String())
			}
		})
	}
}

func TestRunBadInput(t *testing.T) {
	fake := rollouttest.NewServer(t, rollouttest.Frame{})
	awsEnv(t, fake)
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		name   string
		args   []string
		stdin  string
		wantIn []string
	}{
		{"nothing given", []string{"-region", "us-east-1"}, "", []string{"cluster is required", "task definition is required", "load balancer URL is required"}},
		{"no region", []string{"-cluster", "c"}, "", []string{"no AWS region"}},
		{"missing outputs file", []string{"-outputs", missing}, "", []string{"missing.json"}},
		{"outputs not JSON", []string{"-outputs", "-"}, "error: no stack named 'staging' found", []string{"pulumi stack output --json"}},
		{"stray argument", []string{"staging"}, "", []string{"unexpected arguments"}},
		{"bad flag", []string{"-timeout", "soon"}, "", []string{"invalid value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if err == nil {
				t.Fatal("run() = nil, want an error")
			}
			got := err.Error() + stderr.String()
			for _, want := range tt.wantIn {
				if !strings.Contains(got, want) {
					t.Errorf("error lacks %q; got %v", want, got)
				}
			}
		})
	}
}
