package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	var mu sync.Mutex
	var asked []string
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/v2":
			w.Write([]byte(`{"mrid":"m","pkey":"` + r.URL.Query().Get("pkey") + `","status":"OK"}`))
		case "/v2/ad":
			w.Write([]byte(`{"mrid":"m","adserverRequestId":"r","creatives":[{"auctionWinId":"b1","cpm":1,"creative":{"markup":"<div>ad</div>"}}]}`))
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer lb.Close()

	const image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a"
	outputs, err := json.Marshal(map[string]any{
		"url": lb.URL, "clusterName": rollouttest.Cluster, "serviceName": rollouttest.Service,
		"taskDefinitionArn": rollouttest.TaskDefinitionARN(td), "targetGroupArn": rollouttest.TargetGroupARN,
		"region": rollouttest.Region, "repositoryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap",
		"image": image, "smokePkey": "demo-canary", "deploymentAlarms": []string{"asap-staging-5xx"},
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
		// wantAsked are the smoke requests the load balancer must see.
		wantAsked []string
		// wantImage is what -verified-image records; empty: not asked.
		wantImage string
	}{
		{"outputs file: smokePkey, fill required, image recorded", []string{"-outputs", file, "-require-fill", "-verified-image", "IMAGE"}, "",
			[]string{"/readyz", "/v2?pkey=demo-canary", "/v2/ad?pkey=demo-canary"}, image},
		{"outputs on stdin, -pkey overrides smokePkey", []string{"-outputs", "-", "-pkey", "demo-feed"}, string(outputs),
			[]string{"/readyz", "/v2?pkey=demo-feed"}, ""},
		{"flags only", []string{"-cluster", rollouttest.Cluster, "-service", rollouttest.Service, "-task-definition", td,
			"-target-group", rollouttest.TargetGroupARN, "-url", lb.URL, "-region", rollouttest.Region, "-pkey", "demo-feed"}, "",
			[]string{"/readyz", "/v2?pkey=demo-feed"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			asked = nil
			mu.Unlock()
			recorded := filepath.Join(t.TempDir(), "staging-verified-image")
			var args []string
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "IMAGE", recorded))
			}
			args = append(args, "-interval", "5ms", "-timeout", "10s")
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, strings.NewReader(tt.stdin), &stdout, &stderr); err != nil {
				t.Fatalf("run(%q) = %v\nstdout:\n%s", args, err, stdout.String())
			}
			if !strings.Contains(stdout.String(), "verified: asap-staging:7") {
				t.Errorf("stdout lacks the verified line:\n%s", stdout.String())
			}
			mu.Lock()
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("smoke requests %q, want %q", asked, tt.wantAsked)
			}
			mu.Unlock()
			got, err := os.ReadFile(recorded)
			switch {
			case tt.wantImage == "" && err == nil:
				t.Errorf("%s written without -verified-image", recorded)
			case tt.wantImage != "" && strings.TrimSpace(string(got)) != tt.wantImage:
				t.Errorf("-verified-image wrote %q (%v), want %q", got, err, tt.wantImage)
			}
		})
	}
}

// A rollout that fails leaves no verified image behind: production must not promote it.
func TestRunFailedRecordsNoImage(t *testing.T) {
	fake := rollouttest.NewServer(t, rollouttest.Frame{
		Deployments: []rollouttest.Deployment{{ID: "ecs-svc/6", Status: "PRIMARY", TaskDefinition: "asap-staging:6", RolloutState: "COMPLETED", Desired: 1, Running: 1}},
		Events:      []string{"(service asap) (deployment ecs-svc/7) deployment failed: alarm detected: asap-staging-5xx."},
	})
	awsEnv(t, fake)
	outputs := `{"url":"http://127.0.0.1:1","clusterName":"` + rollouttest.Cluster + `","serviceName":"` + rollouttest.Service +
		`","taskDefinitionArn":"` + rollouttest.TaskDefinitionARN("asap-staging:7") + `","targetGroupArn":"` + rollouttest.TargetGroupARN +
		`","region":"us-east-1","image":"r/asap@sha256:00","deploymentAlarms":["asap-staging-5xx"]}`
	recorded := filepath.Join(t.TempDir(), "staging-verified-image")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-outputs", "-", "-verified-image", recorded, "-interval", "5ms"}, strings.NewReader(outputs), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "rolled back by deployment alarm asap-staging-5xx") {
		t.Fatalf("run() = %v, want the alarm rollback", err)
	}
	if _, err := os.Stat(recorded); err == nil {
		t.Errorf("%s written after a failed rollout", recorded)
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
		{"verified image without outputs", []string{"-verified-image", "x", "-region", "us-east-1"}, "", []string{"-verified-image needs the image output"}},
		{"fill without a placement", []string{"-require-fill", "-cluster", "c", "-region", "us-east-1"}, "", []string{"a required fill needs the smoke placement"}},
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
