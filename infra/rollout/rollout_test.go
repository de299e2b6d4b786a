package rollout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"asap/infra/rollout"
	"asap/infra/rollout/rollouttest"
)

const (
	oldTD = "asap-staging:41"
	newTD = "asap-staging:42"
)

var (
	exit1 = 1
	exit2 = 2
)

// oldDeployment is the deployment that ran before the one under test.
func oldDeployment(status, state string, running int) rollouttest.Deployment {
	return rollouttest.Deployment{ID: "ecs-svc/1", Status: status, TaskDefinition: oldTD, RolloutState: state,
		Desired: 2, Running: running, CreatedAt: rollouttest.Epoch.Add(-time.Hour)}
}

// newDeployment is the deployment of the task definition just deployed.
func newDeployment(status, state string, running, pending int) rollouttest.Deployment {
	return rollouttest.Deployment{ID: "ecs-svc/2", Status: status, TaskDefinition: newTD, RolloutState: state,
		Desired: 2, Running: running, Pending: pending, CreatedAt: rollouttest.Epoch}
}

func running(id, td, instance string, port int) rollouttest.Task {
	return rollouttest.Task{ID: id, TaskDefinition: td, LastStatus: "RUNNING", Instance: instance, HostPort: port}
}

func stopped(id, td, reason string, exit *int, ctrReason string) rollouttest.Task {
	return rollouttest.Task{ID: id, TaskDefinition: td, LastStatus: "STOPPED", DesiredStatus: "STOPPED",
		StopCode: "EssentialContainerExited", StoppedReason: reason, ExitCode: exit, ContainerReason: ctrReason}
}

func target(instance string, port int, state string) rollouttest.Target {
	return rollouttest.Target{Instance: instance, Port: port, State: state}
}

var (
	newTasks       = []rollouttest.Task{running("n1", newTD, "i-0a", 32768), running("n2", newTD, "i-0b", 32769)}
	newTargetsUp   = []rollouttest.Target{target("i-0a", 32768, "healthy"), target("i-0b", 32769, "healthy")}
	oldTasks       = []rollouttest.Task{running("o1", oldTD, "i-0a", 32770), running("o2", oldTD, "i-0b", 32771)}
	oldTargetsUp   = []rollouttest.Target{target("i-0a", 32770, "healthy"), target("i-0b", 32771, "healthy")}
	completedFrame = rollouttest.Frame{
		Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "COMPLETED", 2, 0)},
		Events:      []string{"(service asap) has reached a steady state."},
		Tasks:       newTasks,
		Targets:     newTargetsUp,
	}
)

func join[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// filled is a GET /v2/ad answer with the demo ad server's bid.
const filled = `{"mrid":"6f1c","adserverRequestId":"r1","creatives":[{"auctionWinId":"b1","cpm":1.5,"creative":{"creative_key":"ck","campaign_key":"","deal_id":"","markup":"<div>ad</div>","w":300,"h":250,"adomain":[]},"beacons":{"impression":[]}}]}`

// Deployment alarms of the fake stack, as the deploymentAlarms output lists them.
var alarms = []string{"asap-staging-5xx", "asap-staging-latency-p99"}

// smokeOK answers as a healthy ASAP does.
func smokeOK(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/readyz":
		w.Write([]byte("ok\n"))
	case "/v2":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"mrid":"6f1c","pkey":"` + r.URL.Query().Get("pkey") + `","status":"OK","adServer":"DFP"}`))
	case "/v2/ad":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(filled))
	default:
		http.NotFound(w, r)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		frames  []rollouttest.Frame
		smoke   http.HandlerFunc // nil: smokeOK
		timeout time.Duration    // zero: 5 s
		// wantErr is the sentinel the error wraps; nil means the rollout verifies.
		wantErr error
		// wantIn are strings the error (or, on success, the progress output) must contain.
		wantIn []string
		// wantNotIn are strings the error must not contain.
		wantNotIn []string
		// wantPolls is the number of DescribeServices calls, when it is certain.
		wantPolls int
	}{
		{
			name:      "clean rollout",
			frames:    []rollouttest.Frame{completedFrame},
			wantIn:    []string{"COMPLETED: running 2/2", "healthy targets 2/2", "verified: asap-staging:42"},
			wantPolls: 1,
		},
		{
			name: "slow rollout that completes",
			frames: []rollouttest.Frame{
				{ // ECS has started the deployment; no new task runs yet
					Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 0, 2), oldDeployment("ACTIVE", "COMPLETED", 2)},
					Tasks:       oldTasks, Targets: oldTargetsUp,
				},
				{ // one new task runs, its target is still in its first health checks
					Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 1, 1), oldDeployment("ACTIVE", "COMPLETED", 2)},
					Tasks:       join(oldTasks, newTasks[:1]),
					Targets:     join(oldTargetsUp, []rollouttest.Target{{Instance: "i-0a", Port: 32768, State: "initial", Reason: "Elb.InitialHealthChecking"}}),
				},
				{ // both new tasks healthy, but ECS has not finished draining the old ones
					Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 2, 0), oldDeployment("ACTIVE", "COMPLETED", 1)},
					Tasks:       join(oldTasks[:1], newTasks),
					Targets:     join(oldTargetsUp[:1], newTargetsUp),
				},
				completedFrame,
			},
			wantIn:    []string{"IN_PROGRESS: running 0/2, pending 2", "running 1/2", "healthy targets 0/1", "healthy targets 2/2", "COMPLETED", "verified"},
			wantPolls: 4, // it must not stop at the third frame: IN_PROGRESS is not done
		},
		{
			name: "FAILED rollout",
			frames: []rollouttest.Frame{{
				Deployments: []rollouttest.Deployment{
					{ID: "ecs-svc/2", Status: "PRIMARY", TaskDefinition: newTD, RolloutState: "FAILED",
						RolloutStateReason: "ECS deployment circuit breaker: tasks failed to start.", Desired: 2, Failed: 2, CreatedAt: rollouttest.Epoch},
				},
				Events: []string{"(service asap) (deployment ecs-svc/2) deployment failed: tasks failed to start."},
				Tasks: []rollouttest.Task{
					stopped("s1", newTD, "Essential container in task exited", &exit1, ""),
					stopped("s2", newTD, "Essential container in task exited", &exit1, ""),
				},
			}},
			wantErr: rollout.ErrFailed,
			wantIn: []string{"deployment ecs-svc/2 of asap-staging:42 FAILED: ECS deployment circuit breaker: tasks failed to start.",
				"task s1 (EssentialContainerExited): Essential container in task exited [container asap: exit 1]", "task s2",
				"deployment failed: tasks failed to start."},
			wantPolls: 1,
		},
		{
			name: "circuit breaker rolled back while the failed deployment is still listed",
			frames: []rollouttest.Frame{
				{
					Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 0, 2), oldDeployment("ACTIVE", "COMPLETED", 2)},
					Tasks:       join(oldTasks, []rollouttest.Task{stopped("s1", newTD, "Task failed container health checks", nil, "")}),
					Targets:     oldTargetsUp,
				},
				{
					Deployments: []rollouttest.Deployment{
						{ID: "ecs-svc/3", Status: "PRIMARY", TaskDefinition: oldTD, RolloutState: "COMPLETED", Desired: 2, Running: 2, CreatedAt: rollouttest.Epoch.Add(time.Minute)},
						{ID: "ecs-svc/2", Status: "ACTIVE", TaskDefinition: newTD, RolloutState: "FAILED", RolloutStateReason: "ECS deployment circuit breaker: tasks failed to start.", Desired: 0, CreatedAt: rollouttest.Epoch},
					},
					Events: []string{"(service asap) rolling back to deployment ecs-svc/1.", "(service asap) (deployment ecs-svc/2) deployment failed: tasks failed to start."},
					Tasks:  join(oldTasks, []rollouttest.Task{stopped("s1", newTD, "Task failed container health checks", nil, "")}),
				},
			},
			wantErr: rollout.ErrRolledBack,
			wantIn: []string{"asap-staging:42 was rolled back", "PRIMARY deployment ecs-svc/3 runs asap-staging:41",
				"ecs-svc/2 is ACTIVE, rollout FAILED: ECS deployment circuit breaker", "task s1", "rolling back to deployment ecs-svc/1"},
			wantNotIn: []string{"by deployment alarm", "by a deployment alarm"},
			wantPolls: 2,
		},
		{
			name: "circuit breaker rolled back and the service looks stable again",
			frames: []rollouttest.Frame{{
				// What ecs.NewServicesStableWaiter accepts: one deployment, running == desired.
				Deployments: []rollouttest.Deployment{{ID: "ecs-svc/3", Status: "PRIMARY", TaskDefinition: oldTD, RolloutState: "COMPLETED", Desired: 2, Running: 2, CreatedAt: rollouttest.Epoch.Add(time.Minute)}},
				Events:      []string{"(service asap) has reached a steady state.", "(service asap) rolling back to deployment ecs-svc/1."},
				Tasks:       join(oldTasks, []rollouttest.Task{stopped("s1", newTD, "Essential container in task exited", &exit2, "")}),
				Targets:     oldTargetsUp,
			}},
			wantErr:   rollout.ErrRolledBack,
			wantIn:    []string{"was rolled back", "runs asap-staging:41 (rollout COMPLETED)", "no deployment of it is left", "A rollback is never a success", "exit 2"},
			wantNotIn: []string{"alarm"},
			wantPolls: 1,
		},
		{
			name: "deployment alarm rolled back a release that passed its health checks",
			frames: []rollouttest.Frame{
				{ // the new tasks are healthy: the circuit breaker sees nothing wrong
					Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 2, 0), oldDeployment("ACTIVE", "COMPLETED", 1)},
					Tasks:       join(oldTasks[:1], newTasks), Targets: join(oldTargetsUp[:1], newTargetsUp),
					Alarms: alarms,
				},
				{ // ...but 5xx rose: the alarm fired and ECS rolled back
					Deployments: []rollouttest.Deployment{
						{ID: "ecs-svc/3", Status: "PRIMARY", TaskDefinition: oldTD, RolloutState: "IN_PROGRESS", Desired: 2, Running: 1, CreatedAt: rollouttest.Epoch.Add(time.Minute)},
						{ID: "ecs-svc/2", Status: "ACTIVE", TaskDefinition: newTD, RolloutState: "FAILED", Desired: 0, Running: 2, CreatedAt: rollouttest.Epoch,
							RolloutStateReason: "ECS deployment detected triggered alarm(s): asap-staging-5xx."},
					},
					Events: []string{"(service asap) rolling back to deployment ecs-svc/1.",
						"(service asap) (deployment ecs-svc/2) deployment failed: alarm detected."},
					Tasks: join(oldTasks, newTasks), Targets: join(oldTargetsUp, newTargetsUp),
					Alarms: alarms,
				},
			},
			wantErr: rollout.ErrAlarmRolledBack,
			wantIn: []string{"asap-staging:42 was rolled back by deployment alarm asap-staging-5xx",
				"triggered alarm(s): asap-staging-5xx", "A rollback is never a success", "deployment failed: alarm detected"},
			wantNotIn: []string{"asap-staging-latency-p99"},
			wantPolls: 2,
		},
		{
			name: "deployment alarm named only in the service's events",
			frames: []rollouttest.Frame{{
				Deployments: []rollouttest.Deployment{{ID: "ecs-svc/3", Status: "PRIMARY", TaskDefinition: oldTD, RolloutState: "COMPLETED", Desired: 2, Running: 2, CreatedAt: rollouttest.Epoch.Add(time.Minute)}},
				Events: []string{"(service asap) has reached a steady state.",
					"(service asap) (deployment ecs-svc/2) deployment failed: alarm asap-staging-latency-p99 is in ALARM state."},
				Tasks: oldTasks, Targets: oldTargetsUp, Alarms: alarms,
			}},
			wantErr:   rollout.ErrAlarmRolledBack,
			wantIn:    []string{"rolled back by deployment alarm asap-staging-latency-p99", "no deployment of it is left"},
			wantPolls: 1,
		},
		{
			name: "tasks stopping repeatedly",
			frames: []rollouttest.Frame{{
				Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 0, 1), oldDeployment("ACTIVE", "COMPLETED", 2)},
				Events:      []string{"(service asap) has started 1 tasks: (task s4)."},
				Tasks: join(oldTasks, []rollouttest.Task{
					stopped("s1", newTD, "Task failed container health checks", &exit2, "asap: ASAP_REDIS_URL: required in staging"),
					stopped("s2", newTD, "Task failed container health checks", &exit2, "asap: ASAP_REDIS_URL: required in staging"),
					stopped("s3", newTD, "Essential container in task exited", &exit1, ""),
					// None of these counts: a task of an earlier attempt, before this deployment
					// began; an old task stopped by the rollout; a scale-in.
					{ID: "e1", TaskDefinition: newTD, LastStatus: "STOPPED", DesiredStatus: "STOPPED", StopCode: "EssentialContainerExited",
						StoppedReason: "Essential container in task exited", CreatedAt: rollouttest.Epoch.Add(-30 * time.Minute)},
					{ID: "o0", TaskDefinition: oldTD, LastStatus: "STOPPED", DesiredStatus: "STOPPED", StopCode: "ServiceSchedulerInitiated", StoppedReason: "Scaling activity initiated by (deployment ecs-svc/2)"},
					{ID: "n0", TaskDefinition: newTD, LastStatus: "STOPPED", DesiredStatus: "STOPPED", StopCode: "ServiceSchedulerInitiated", StoppedReason: "Scaling activity initiated by (deployment ecs-svc/2)"},
				}),
				Targets: oldTargetsUp,
			}},
			wantErr: rollout.ErrTasksStopping,
			wantIn: []string{"3 tasks of asap-staging:42 stopped", "task s1", "container asap: exit 2, asap: ASAP_REDIS_URL: required in staging",
				"task s3 (EssentialContainerExited): Essential container in task exited", "has started 1 tasks"},
			wantNotIn: []string{"task e1", "task o0", "task n0"},
			wantPolls: 1,
		},
		{
			name: "timeout",
			frames: []rollouttest.Frame{{
				Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 0, 2), oldDeployment("ACTIVE", "COMPLETED", 2)},
				Events:      []string{"(service asap) was unable to place a task because no container instance met all of its requirements."},
				Tasks:       oldTasks, Targets: oldTargetsUp,
			}},
			timeout: 300 * time.Millisecond,
			wantErr: rollout.ErrTimeout,
			wantIn:  []string{"timed out after 300ms waiting for asap-staging:42", "IN_PROGRESS: running 0/2, pending 2", "unable to place a task"},
		},
		{
			name: "unhealthy targets",
			frames: []rollouttest.Frame{{
				// ECS counts the rollout complete, but the load balancer does not route to the
				// new tasks; the old tasks' healthy targets must not count for them.
				Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "COMPLETED", 2, 0)},
				Tasks:       join(newTasks, oldTasks),
				Targets: join(oldTargetsUp, []rollouttest.Target{
					{Instance: "i-0a", Port: 32768, State: "unhealthy", Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [503]"},
					{Instance: "i-0b", Port: 32769, State: "unhealthy", Reason: "Target.Timeout", Description: "Request timed out"},
				}),
			}},
			timeout: 300 * time.Millisecond,
			wantErr: rollout.ErrTimeout,
			wantIn: []string{"healthy targets 0/2", "none of the 2 running task(s) is healthy in the target group",
				"i-0a:32768 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [503])",
				"i-0b:32769 unhealthy (Target.Timeout: Request timed out)"},
		},
		{
			name:   "smoke: /readyz fails",
			frames: []rollouttest.Frame{completedFrame},
			smoke: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
			},
			wantErr:   rollout.ErrSmoke,
			wantIn:    []string{"GET /readyz: status 503, want 200: shutting down"},
			wantPolls: 1,
		},
		{
			name:   "smoke: /v2 does not answer status OK",
			frames: []rollouttest.Frame{completedFrame},
			smoke: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2" {
					w.Write([]byte(`{"mrid":"1","pkey":"demo-feed","status":"PAUSED"}`))
					return
				}
				smokeOK(w, r)
			},
			wantErr: rollout.ErrSmoke,
			wantIn:  []string{`GET /v2?pkey=demo-feed: status "PAUSED", want "OK"`},
		},
		{
			name:   "smoke: /v2/ad answers 204 where a fill is required",
			frames: []rollouttest.Frame{completedFrame},
			smoke: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/ad" {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				smokeOK(w, r)
			},
			wantErr: rollout.ErrSmoke,
			wantIn:  []string{"GET /v2/ad?pkey=demo-feed: status 204, no fill: this stack requires one"},
		},
		{
			name:   "smoke: /v2/ad serves the house ad where a fill is required",
			frames: []rollouttest.Frame{completedFrame},
			smoke: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/ad" {
					w.Write([]byte(`{"mrid":"m","adserverRequestId":"","creatives":[{"auctionWinId":"house","cpm":0,"creative":{"markup":"<div>house</div>"}}]}`))
					return
				}
				smokeOK(w, r)
			},
			wantErr: rollout.ErrSmoke,
			wantIn:  []string{"GET /v2/ad?pkey=demo-feed: no fill: the placement's house ad, not an upstream's bid"},
		},
		{
			name:   "smoke: the smoke placement is not seeded",
			frames: []rollouttest.Frame{completedFrame},
			smoke: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2" {
					w.WriteHeader(http.StatusNotFound)
					w.Write([]byte(`{"status":"NOT_FOUND"}`))
					return
				}
				smokeOK(w, r)
			},
			wantErr: rollout.ErrSmoke,
			wantIn:  []string{`status 404: the smoke placement "demo-feed" is not in the stack's Redis`, "make seed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := rollouttest.NewServer(t, tt.frames...)
			handler := tt.smoke
			if handler == nil {
				handler = smokeOK
			}
			lb := httptest.NewServer(handler)
			defer lb.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ecsClient, elbClient := fake.Clients()
			var out bytes.Buffer
			check := rollout.Check{
				ECS: ecsClient, ELB: elbClient, Out: &out,
				Cluster: rollouttest.Cluster, Service: rollouttest.Service,
				TaskDefinition: rollouttest.TaskDefinitionARN(newTD), TargetGroupARN: rollouttest.TargetGroupARN,
				URL: lb.URL, Pkey: "demo-feed", RequireFill: true, DeploymentAlarms: alarms[:1],
				Timeout: timeout, PollInterval: 5 * time.Millisecond,
			}

			err := check.Run(context.Background())
			t.Logf("progress:\n%s", out.String())

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Run() = %v, want nil", err)
				}
				for _, want := range tt.wantIn {
					if !strings.Contains(out.String(), want) {
						t.Errorf("progress output lacks %q", want)
					}
				}
			} else {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Run() = %v, want an error wrapping %q", err, tt.wantErr)
				}
				var f *rollout.Failure
				if !errors.As(err, &f) {
					t.Fatalf("Run() = %T, want a *rollout.Failure", err)
				}
				for _, want := range tt.wantIn {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error lacks %q; got:\n%v", want, err)
					}
				}
				for _, unwanted := range tt.wantNotIn {
					if strings.Contains(err.Error(), unwanted) {
						t.Errorf("error has %q; got:\n%v", unwanted, err)
					}
				}
			}
			if tt.wantPolls != 0 {
				if got := fake.Polls(); got != tt.wantPolls {
					t.Errorf("DescribeServices calls = %d, want %d", got, tt.wantPolls)
				}
			}
		})
	}
}

// The check asks the target group only about running tasks of the deployed task
// definition, through the ELBv2 query API.
func TestRunReadsTargetHealth(t *testing.T) {
	fake := rollouttest.NewServer(t, completedFrame)
	lb := httptest.NewServer(http.HandlerFunc(smokeOK))
	defer lb.Close()
	ecsClient, elbClient := fake.Clients()
	check := rollout.Check{
		ECS: ecsClient, ELB: elbClient, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
		TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: lb.URL,
		PollInterval: time.Millisecond, Timeout: 5 * time.Second,
	}
	if err := check.Run(context.Background()); err != nil {
		t.Fatalf("Run() with family:revision = %v, want nil", err)
	}
	for _, op := range []string{"DescribeServices", "ListTasks", "DescribeTasks", "DescribeContainerInstances", "DescribeTargetHealth"} {
		if fake.Calls(op) == 0 {
			t.Errorf("%s was never called", op)
		}
	}
}

func TestRunAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*rollout.Check)
		wantIn string
	}{
		{"unknown service", func(c *rollout.Check) { c.Service = "nope" }, "service nope in cluster asap-staging: MISSING"},
		{"unknown cluster", func(c *rollout.Check) { c.Cluster = "nope" }, "ClusterNotFoundException"},
		{"unknown target group", func(c *rollout.Check) {
			c.TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/1"
		}, "TargetGroupNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := rollouttest.NewServer(t, completedFrame)
			ecsClient, elbClient := fake.Clients()
			check := rollout.Check{
				ECS: ecsClient, ELB: elbClient, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
				TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: "http://127.0.0.1:1",
				PollInterval: time.Millisecond, Timeout: 5 * time.Second,
			}
			tt.modify(&check)
			err := check.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("Run() = %v, want an error containing %q", err, tt.wantIn)
			}
			if errors.Is(err, rollout.ErrTimeout) {
				t.Errorf("Run() = %v: an API error must not wait for the timeout", err)
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	fake := rollouttest.NewServer(t, rollouttest.Frame{
		Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 0, 2)},
	})
	ecsClient, elbClient := fake.Clients()
	ctx, cancel := context.WithCancel(context.Background())
	check := rollout.Check{
		ECS: ecsClient, ELB: elbClient, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
		TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: "http://127.0.0.1:1",
		PollInterval: 5 * time.Millisecond, Timeout: time.Minute,
	}
	go func() {
		for fake.Polls() < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := check.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
	if errors.Is(err, rollout.ErrTimeout) {
		t.Errorf("Run() = %v: a canceled check is not a timeout", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		check  rollout.Check
		wantIn []string
	}{
		{"empty", rollout.Check{}, []string{"cluster is required", "service is required", "task definition is required",
			"target group ARN is required", "load balancer URL is required", "clients are required"}},
		{"no revision", rollout.Check{TaskDefinition: "asap-staging"}, []string{`task definition "asap-staging" has no revision`}},
		{"negative timeout", rollout.Check{Timeout: -time.Second}, []string{"must not be negative"}},
		{"fill without a placement", rollout.Check{RequireFill: true}, []string{"a required fill needs the smoke placement"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check.Run(context.Background())
			if err == nil {
				t.Fatal("Run() = nil, want a validation error")
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got %v", want, err)
				}
			}
		})
	}
}

func TestReadOutputs(t *testing.T) {
	// As `pulumi stack output --json` prints them.
	const stack = `{
  "albDnsName": "asap-staging-123.us-east-1.elb.amazonaws.com",
  "clusterName": "asap-staging",
  "logGroupName": "/ecs/asap-staging",
  "region": "us-east-1",
  "repositoryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap",
  "serviceName": "asap",
  "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/asap-staging/0123",
  "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/asap-staging:42",
  "url": "http://asap-staging-123.us-east-1.elb.amazonaws.com",
  "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a",
  "smokePkey": "demo-feed",
  "deploymentAlarms": ["asap-staging-5xx", "asap-staging-latency-p99"],
  "somethingNew": 1
}`
	got, err := rollout.ReadOutputs(strings.NewReader(stack))
	if err != nil {
		t.Fatalf("ReadOutputs() = %v", err)
	}
	want := rollout.Outputs{
		URL: "http://asap-staging-123.us-east-1.elb.amazonaws.com", ALBDNSName: "asap-staging-123.us-east-1.elb.amazonaws.com",
		ClusterName: "asap-staging", ServiceName: "asap", RepositoryURL: "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap",
		LogGroupName: "/ecs/asap-staging", TargetGroupARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/asap-staging/0123",
		TaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/asap-staging:42", Region: "us-east-1",
		Image:     "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:0e5751c026e543b2e8ab2eb06099daa1d1a5cdbe8b6cbd3a0b6d9b0b3c8d1f2a",
		SmokePkey: "demo-feed", DeploymentAlarms: []string{"asap-staging-5xx", "asap-staging-latency-p99"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadOutputs() = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "[]", "error: no stack named 'staging' found"} {
		if _, err := rollout.ReadOutputs(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadOutputs(%q) = nil error, want one", bad)
		}
	}
}

var (
	throttled   = rollouttest.APIError{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
	unavailable = rollouttest.APIError{Status: 503, Code: "ServerException", Message: "Service Unavailable"}
	elbThrottle = rollouttest.APIError{Status: 400, Code: "Throttling", Message: "Rate exceeded"}
)

// AWS APIs fail now and then beyond the SDK's retries (the fake's clients make one
// attempt, so each scripted error is one that outlived them). The check takes up to
// MaxAPIErrors in a row, backing off, and says so when it gives up.
func TestRunTransientAPIErrors(t *testing.T) {
	tests := []struct {
		name  string
		fails map[string][]rollouttest.APIError
		// wantErr nil: the rollout verifies.
		wantErr error
		wantIn  []string
	}{
		{
			name:  "as many as tolerated, then success",
			fails: map[string][]rollouttest.APIError{"DescribeServices": {throttled, unavailable, throttled}},
			wantIn: []string{"AWS API error 1 of 3 tolerated in a row, next look in 1ms", "AWS API error 2 of 3 tolerated in a row, next look in 2ms",
				"AWS API error 3 of 3 tolerated in a row, next look in 4ms", "ThrottlingException", "verified"},
		},
		{
			name: "spread over ECS and ELBv2",
			fails: map[string][]rollouttest.APIError{
				"ListTasks":            {unavailable},
				"DescribeTargetHealth": {elbThrottle, elbThrottle},
			},
			wantIn: []string{"Throttling", "ServerException", "AWS API error 3 of 3 tolerated", "verified"},
		},
		{
			name: "a look that succeeds starts the count again",
			fails: map[string][]rollouttest.APIError{
				// Three errors, a good look (the rollout is still in progress), three more.
				"DescribeServices": {throttled, throttled, throttled, {}, throttled, throttled, throttled},
			},
			wantIn: []string{"IN_PROGRESS", "verified"},
		},
		{
			name:    "one more than tolerated",
			fails:   map[string][]rollouttest.APIError{"DescribeServices": {throttled, throttled, throttled, unavailable}},
			wantErr: rollout.ErrAPI,
			wantIn:  []string{"rollout: giving up after 4 AWS API errors in a row (each after the SDK's own retries; 3 tolerated)", "describe service asap-staging/asap", "ServerException"},
		},
		{
			name:    "an error no retry fixes fails at once",
			fails:   map[string][]rollouttest.APIError{"DescribeServices": {{Status: 400, Code: "AccessDeniedException", Message: "User is not authorized to perform: ecs:DescribeServices"}}},
			wantErr: nil, // not a Failure: checked below
			wantIn:  []string{"AccessDeniedException"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inProgress := rollouttest.Frame{
				Deployments: []rollouttest.Deployment{newDeployment("PRIMARY", "IN_PROGRESS", 1, 1), oldDeployment("ACTIVE", "COMPLETED", 1)},
				Tasks:       join(oldTasks[:1], newTasks[:1]), Targets: join(oldTargetsUp[:1], newTargetsUp[:1]),
			}
			fake := rollouttest.NewServer(t, inProgress, completedFrame)
			for op, errs := range tt.fails {
				fake.Fail(op, errs...)
			}
			lb := httptest.NewServer(http.HandlerFunc(smokeOK))
			defer lb.Close()
			ecsClient, elbClient := fake.Clients()
			var out bytes.Buffer
			check := rollout.Check{
				ECS: ecsClient, ELB: elbClient, Out: &out, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
				TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: lb.URL, Pkey: "demo-feed",
				PollInterval: time.Millisecond, Timeout: time.Minute, MaxAPIErrors: 3,
			}
			err := check.Run(context.Background())
			t.Logf("progress:\n%s", out.String())
			got := out.String()
			if err != nil {
				got += err.Error()
			}
			for _, want := range tt.wantIn {
				if !strings.Contains(got, want) {
					t.Errorf("output and error lack %q:\n%s", want, got)
				}
			}
			switch {
			case strings.HasPrefix(tt.name, "an error no retry"):
				if err == nil || errors.Is(err, rollout.ErrAPI) || errors.Is(err, rollout.ErrTimeout) {
					t.Errorf("Run() = %v, want the API error at once", err)
				}
				if fake.Polls() != 0 || fake.Calls("DescribeServices") != 1 {
					t.Errorf("DescribeServices called %d times, want 1: no retry of a permanent error", fake.Calls("DescribeServices"))
				}
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Run() = %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Run() = %v, want an error wrapping %q", err, tt.wantErr)
			}
		})
	}
}

// The pause after the n-th API error in a row doubles from the poll interval, up to
// MaxBackoff.
func TestBackoff(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}
	for n, w := range want {
		if got := rollout.Backoff(rollout.DefaultPollInterval, n+1); got != w {
			t.Errorf("pause after error %d = %s, want %s", n+1, got, w)
		}
	}
}

// A large service: more tasks and container instances than one Describe call takes
// (the fake refuses more than 100, as ECS does, and pages ListTasks by 100).
func TestRunManyContainerInstances(t *testing.T) {
	const n = 250
	var tasks []rollouttest.Task
	var targets []rollouttest.Target
	for i := range n {
		instance := fmt.Sprintf("i-%04d", i)
		tasks = append(tasks, running(fmt.Sprintf("n%d", i), newTD, instance, 32768+i%1000))
		targets = append(targets, target(instance, 32768+i%1000, "healthy"))
	}
	d := newDeployment("PRIMARY", "COMPLETED", n, 0)
	d.Desired = n
	fake := rollouttest.NewServer(t, rollouttest.Frame{Deployments: []rollouttest.Deployment{d}, Tasks: tasks, Targets: targets})
	lb := httptest.NewServer(http.HandlerFunc(smokeOK))
	defer lb.Close()
	ecsClient, elbClient := fake.Clients()
	var out bytes.Buffer
	check := rollout.Check{
		ECS: ecsClient, ELB: elbClient, Out: &out, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
		TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: lb.URL,
		PollInterval: time.Millisecond, Timeout: time.Minute,
	}
	if err := check.Run(context.Background()); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if want := fmt.Sprintf("%d task(s) running, %d healthy in the target group", n, n); !strings.Contains(out.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, out.String())
	}
	if got := fake.Calls("DescribeContainerInstances"); got != 3 {
		t.Errorf("DescribeContainerInstances calls = %d, want 3 (250 instances by 100)", got)
	}
}

// Without RequireFill (production) the smoke requests never ask /v2/ad: a fill there
// would fire a real win notice.
func TestSmokeWithoutRequiredFill(t *testing.T) {
	fake := rollouttest.NewServer(t, completedFrame)
	var paths []string
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		smokeOK(w, r)
	}))
	defer lb.Close()
	ecsClient, elbClient := fake.Clients()
	check := rollout.Check{
		ECS: ecsClient, ELB: elbClient, Cluster: rollouttest.Cluster, Service: rollouttest.Service,
		TaskDefinition: newTD, TargetGroupARN: rollouttest.TargetGroupARN, URL: lb.URL, Pkey: "demo-feed",
		PollInterval: time.Millisecond, Timeout: time.Minute,
	}
	if err := check.Run(context.Background()); err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	if want := []string{"/readyz", "/v2"}; !slices.Equal(paths, want) {
		t.Errorf("smoke requests %q, want %q", paths, want)
	}
}
