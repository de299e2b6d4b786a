// Package rollout verifies an ECS deployment of ASAP: it waits until the service's
// PRIMARY deployment runs the task definition just deployed, its rollout completed,
// one of its tasks runs and is healthy in the load balancer's target group, and then
// sends smoke requests through the load balancer.
//
// It never reports a rollback as success. The SDK's services-stable waiter does:
// after the deployment circuit breaker, or a deployment alarm, rolls back, the
// service is stable again with the old task definition. The check compares the
// PRIMARY deployment's task definition with the deployed one and reads its rollout
// state itself, and names the alarm when one caused the rollback.
//
// AWS APIs fail now and then beyond the SDK's own retries (throttling, a 5xx): the
// check tolerates a few such errors in a row, backing off between looks, and fails
// at once on an error no retry can fix (a missing cluster, denied access).
package rollout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Sentinel errors tell the ways a rollout fails apart; a *Failure wraps one of them.
var (
	// ErrRolledBack: the PRIMARY deployment no longer runs the deployed task definition.
	ErrRolledBack = errors.New("rolled back")
	// ErrAlarmRolledBack: a deployment alarm rolled the deployment back. It wraps
	// ErrRolledBack, so errors.Is(err, ErrRolledBack) holds for it too.
	ErrAlarmRolledBack = fmt.Errorf("%w by a deployment alarm", ErrRolledBack)
	// ErrFailed: the deployment's rollout state is FAILED.
	ErrFailed = errors.New("rollout FAILED")
	// ErrAPI: the AWS APIs kept failing, more times in a row than MaxAPIErrors.
	ErrAPI = errors.New("AWS API errors")
	// ErrTasksStopping: tasks of the deployed task definition keep stopping.
	ErrTasksStopping = errors.New("tasks keep stopping")
	// ErrTimeout: the rollout did not complete within the timeout.
	ErrTimeout = errors.New("timed out")
	// ErrSmoke: the rollout completed but the smoke request through the load balancer failed.
	ErrSmoke = errors.New("smoke request failed")
)

// ECSAPI is the part of the ECS API the check calls; *ecs.Client implements it.
type ECSAPI interface {
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	DescribeContainerInstances(context.Context, *ecs.DescribeContainerInstancesInput, ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
}

// ELBAPI is the part of the ELBv2 API the check calls; *elasticloadbalancingv2.Client implements it.
type ELBAPI interface {
	DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
}

// Defaults of the Check fields left zero.
const (
	DefaultTimeout         = 15 * time.Minute
	DefaultPollInterval    = 10 * time.Second
	DefaultMaxStoppedTasks = 3
	DefaultEvents          = 8
	DefaultMaxAPIErrors    = 5
	// MaxBackoff caps the pause after an API error (it doubles from PollInterval).
	MaxBackoff = time.Minute
	// describeLimit is the most tasks or container instances one Describe call takes.
	describeLimit = 100
)

// Check is one verification of a deployment. The zero values of the optional fields
// take the defaults above.
type Check struct {
	// ECS and ELB are the API clients (required).
	ECS ECSAPI
	ELB ELBAPI
	// HTTP sends the smoke requests. Nil means a client with a 10 s timeout.
	HTTP *http.Client
	// Out receives one progress line whenever the observed state changes (and at
	// least once a minute). Nil discards progress.
	Out io.Writer

	// Cluster and Service name the ECS service (required).
	Cluster string
	Service string
	// TaskDefinition is the task definition just deployed: an ARN or family:revision (required).
	TaskDefinition string
	// TargetGroupARN is the load balancer's target group of the service (required).
	TargetGroupARN string
	// URL is the load balancer's base URL, such as http://asap-staging-123.us-east-1.elb.amazonaws.com
	// (required; http:// is assumed without a scheme).
	URL string
	// Pkey is the placement the smoke requests ask GET /v2 (and, with RequireFill,
	// GET /v2/ad) for: the stack's smokePkey output. Empty skips both (GET /readyz
	// is always checked).
	Pkey string
	// RequireFill makes GET /v2/ad?pkey=Pkey part of the smoke requests, and it must
	// fill: 200 with a creative won from an upstream (no house ad, no 204). Staging
	// sets it: its upstream is the demo ad server the stack runs. Production leaves
	// it off, since a fill there would fire a real win notice.
	RequireFill bool
	// DeploymentAlarms are the CloudWatch alarms that roll a deployment back (the
	// stack's deploymentAlarms output). The check also reads the ones the service's
	// deployment configuration names; either is enough to name the alarm that
	// rolled a deployment back.
	DeploymentAlarms []string

	// Timeout bounds the whole check, smoke requests included.
	Timeout time.Duration
	// PollInterval is the pause between two looks at the service.
	PollInterval time.Duration
	// MaxStoppedTasks is how many stopped tasks of the deployed task definition make
	// the check fail before the circuit breaker decides.
	MaxStoppedTasks int
	// Events is how many of the service's most recent events a failure report lists.
	Events int
	// MaxAPIErrors is how many looks in a row may fail on a transient API error
	// (throttling, a 5xx, a broken connection, each after the SDK's own retries)
	// before the check gives up. The pause after the n-th doubles from PollInterval
	// up to MaxBackoff.
	MaxAPIErrors int
}

// Failure is a failed rollout with what an operator needs to see why.
type Failure struct {
	// Kind is one of the sentinel errors.
	Kind error
	// Summary says what happened in one line.
	Summary string
	// StoppedTasks are the deployed task definition's stopped tasks with their reasons.
	StoppedTasks []string
	// Targets are the deployed tasks' targets that are not healthy, with their reasons.
	Targets []string
	// Events are the service's most recent events, newest first.
	Events []string
}

// Error reports the summary and, below it, the stopped tasks, targets and events.
func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString(f.Summary)
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:", title)
		for _, l := range lines {
			b.WriteString("\n  " + l)
		}
	}
	section("stopped tasks of the deployed task definition", f.StoppedTasks)
	section("unhealthy targets of the deployed tasks", f.Targets)
	section("recent service events", f.Events)
	return b.String()
}

// Unwrap returns Kind, so errors.Is(err, ErrRolledBack) and its kin work.
func (f *Failure) Unwrap() error { return f.Kind }

// Validate reports every missing or malformed field at once.
func (c Check) Validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"cluster", c.Cluster}, {"service", c.Service}, {"task definition", c.TaskDefinition},
		{"target group ARN", c.TargetGroupARN}, {"load balancer URL", c.URL},
	} {
		if strings.TrimSpace(f.value) == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if c.TaskDefinition != "" && !strings.Contains(shortTaskDefinition(c.TaskDefinition), ":") {
		errs = append(errs, fmt.Errorf("task definition %q has no revision: want an ARN or family:revision", c.TaskDefinition))
	}
	if c.ECS == nil || c.ELB == nil {
		errs = append(errs, errors.New("ECS and ELB clients are required"))
	}
	if c.Timeout < 0 || c.PollInterval < 0 || c.MaxStoppedTasks < 0 || c.Events < 0 || c.MaxAPIErrors < 0 {
		errs = append(errs, errors.New("timeout, poll interval, max stopped tasks, events and max API errors must not be negative"))
	}
	if c.RequireFill && c.Pkey == "" {
		errs = append(errs, errors.New("a required fill needs the smoke placement (pkey): GET /v2/ad asks for it"))
	}
	return errors.Join(errs...)
}

// Run waits for the rollout and smoke-tests it. It returns nil only when the
// deployed task definition is PRIMARY, COMPLETED, RUNNING, healthy in the target
// group and answering through the load balancer; otherwise a *Failure (or the
// context's error when ctx itself ends).
func (c Check) Run(ctx context.Context) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	c = c.withDefaults()
	started := time.Now()
	deadline, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	c.printf(started, "waiting for %s to roll out on %s/%s (timeout %s)", shortTaskDefinition(c.TaskDefinition), c.Cluster, c.Service, c.Timeout)
	var last state
	var lastLine string
	var lastPrint time.Time
	apiErrors := 0
	for {
		pause := c.PollInterval
		st, err := c.observe(deadline)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("rollout: %w", ctx.Err())
		case err != nil && deadline.Err() != nil:
			return c.timeout(last)
		case err != nil && !transient(err):
			return fmt.Errorf("rollout: %w", err)
		case err != nil:
			apiErrors++
			if apiErrors > c.MaxAPIErrors {
				return c.failure(ErrAPI, last, "rollout: giving up after %d AWS API errors in a row (each after the SDK's own retries; %d tolerated): %v",
					apiErrors, c.MaxAPIErrors, err)
			}
			pause = backoff(c.PollInterval, apiErrors)
			c.printf(started, "AWS API error %d of %d tolerated in a row, next look in %s: %v", apiErrors, c.MaxAPIErrors, pause, err)
		default:
			apiErrors = 0
			last = st
			if line := st.progress(); line != lastLine || time.Since(lastPrint) >= time.Minute {
				c.printf(started, "%s", line)
				lastLine, lastPrint = line, time.Now()
			}
			if f := c.verdict(st); f != nil {
				return f
			}
		}
		if err == nil && st.done() {
			break
		}
		select {
		case <-deadline.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("rollout: %w", ctx.Err())
			}
			return c.timeout(last)
		case <-time.After(pause):
		}
	}

	if err := c.smoke(deadline); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rollout: %w", ctx.Err())
		}
		return &Failure{Kind: ErrSmoke, Summary: fmt.Sprintf("rollout: %s completed, but the smoke request through %s failed: %v", shortTaskDefinition(c.TaskDefinition), c.URL, err)}
	}
	c.printf(started, "verified: %s is PRIMARY and COMPLETED, %d task(s) running, %d healthy in the target group, smoke requests passed",
		shortTaskDefinition(c.TaskDefinition), last.newRunning, last.newHealthy)
	return nil
}

func (c Check) withDefaults() Check {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxStoppedTasks == 0 {
		c.MaxStoppedTasks = DefaultMaxStoppedTasks
	}
	if c.Events == 0 {
		c.Events = DefaultEvents
	}
	if c.MaxAPIErrors == 0 {
		c.MaxAPIErrors = DefaultMaxAPIErrors
	}
	if !strings.Contains(c.URL, "://") {
		c.URL = "http://" + c.URL
	}
	c.URL = strings.TrimRight(c.URL, "/")
	return c
}

func (c Check) printf(started time.Time, format string, args ...any) {
	elapsed := time.Since(started).Truncate(time.Second)
	fmt.Fprintf(c.Out, "rollout [%6s] %s\n", elapsed, fmt.Sprintf(format, args...))
}

// state is one look at the service.
type state struct {
	want          string // the deployed task definition, short form
	primary       *ecstypes.Deployment
	ours          *ecstypes.Deployment // the deployment of the deployed task definition, PRIMARY or not
	deployment    int                  // number of deployments
	newRunning    int                  // RUNNING tasks of the deployed task definition
	newHealthy    int                  // of those, healthy in the target group
	targets       int                  // targets of the deployed tasks found in the target group
	unhealthy     []string             // the deployed tasks' targets that are not healthy
	stopped       []string             // stopped tasks of the deployed task definition
	events        []string
	serviceEvents []ecstypes.ServiceEvent // all the events ECS returned, newest first
	alarms        []string                // the deployment alarms the service's configuration names
}

// observe reads the service, its tasks and the target group's health.
func (c Check) observe(ctx context.Context) (state, error) {
	st := state{want: shortTaskDefinition(c.TaskDefinition)}
	out, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &c.Cluster, Services: []string{c.Service}})
	if err != nil {
		return st, fmt.Errorf("describe service %s/%s: %w", c.Cluster, c.Service, err)
	}
	if len(out.Services) == 0 {
		reason := "not found"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return st, fmt.Errorf("service %s in cluster %s: %s", c.Service, c.Cluster, reason)
	}
	svc := out.Services[0]
	if s := aws.ToString(svc.Status); s != "ACTIVE" {
		return st, fmt.Errorf("service %s in cluster %s is %s, not ACTIVE", c.Service, c.Cluster, s)
	}
	if a := svc.DeploymentConfiguration; a != nil && a.Alarms != nil && a.Alarms.Enable {
		st.alarms = a.Alarms.AlarmNames
	}
	st.serviceEvents = svc.Events
	st.deployment = len(svc.Deployments)
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if aws.ToString(d.Status) == "PRIMARY" {
			st.primary = d
		}
		if sameTaskDefinition(aws.ToString(d.TaskDefinition), c.TaskDefinition) && (st.ours == nil || newer(d, st.ours)) {
			st.ours = d
		}
	}
	for i, e := range svc.Events {
		if i == c.Events {
			break
		}
		st.events = append(st.events, fmt.Sprintf("%s %s", aws.ToTime(e.CreatedAt).UTC().Format(time.RFC3339), aws.ToString(e.Message)))
	}

	var since time.Time
	if st.ours != nil {
		since = aws.ToTime(st.ours.CreatedAt)
	}
	stopped, err := c.tasks(ctx, ecstypes.DesiredStatusStopped)
	if err != nil {
		return st, err
	}
	for _, t := range stopped {
		if !sameTaskDefinition(aws.ToString(t.TaskDefinitionArn), c.TaskDefinition) || aws.ToTime(t.CreatedAt).Before(since) || scaledIn(t) {
			continue
		}
		st.stopped = append(st.stopped, describeStopped(t))
	}

	running, err := c.tasks(ctx, ecstypes.DesiredStatusRunning)
	if err != nil {
		return st, err
	}
	var ours []ecstypes.Task
	for _, t := range running {
		if sameTaskDefinition(aws.ToString(t.TaskDefinitionArn), c.TaskDefinition) && aws.ToString(t.LastStatus) == "RUNNING" {
			ours = append(ours, t)
		}
	}
	st.newRunning = len(ours)
	if len(ours) > 0 {
		if err := c.targetHealth(ctx, ours, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// tasks lists and describes the service's tasks with the given desired status.
func (c Check) tasks(ctx context.Context, desired ecstypes.DesiredStatus) ([]ecstypes.Task, error) {
	var arns []string
	in := &ecs.ListTasksInput{Cluster: &c.Cluster, ServiceName: &c.Service, DesiredStatus: desired}
	for page := 0; page < 10; page++ {
		out, err := c.ECS.ListTasks(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list %s tasks of %s: %w", desired, c.Service, err)
		}
		arns = append(arns, out.TaskArns...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	var tasks []ecstypes.Task
	for len(arns) > 0 {
		n := min(len(arns), describeLimit)
		out, err := c.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &c.Cluster, Tasks: arns[:n]})
		if err != nil {
			return nil, fmt.Errorf("describe %s tasks of %s: %w", desired, c.Service, err)
		}
		tasks = append(tasks, out.Tasks...)
		arns = arns[n:]
	}
	return tasks, nil
}

// targetHealth counts the deployed tasks that are healthy in the target group. A
// task on EC2 with bridge networking is the target instance-id:host-port; a task
// with awsvpc networking is the target ip:container-port.
func (c Check) targetHealth(ctx context.Context, tasks []ecstypes.Task, st *state) error {
	var instanceARNs []string
	for _, t := range tasks {
		if arn := aws.ToString(t.ContainerInstanceArn); arn != "" && !slices.Contains(instanceARNs, arn) {
			instanceARNs = append(instanceARNs, arn)
		}
	}
	ec2IDs := map[string]string{}
	for len(instanceARNs) > 0 {
		n := min(len(instanceARNs), describeLimit)
		out, err := c.ECS.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: &c.Cluster, ContainerInstances: instanceARNs[:n]})
		if err != nil {
			return fmt.Errorf("describe container instances of %s: %w", c.Cluster, err)
		}
		for _, ci := range out.ContainerInstances {
			ec2IDs[aws.ToString(ci.ContainerInstanceArn)] = aws.ToString(ci.Ec2InstanceId)
		}
		instanceARNs = instanceARNs[n:]
	}
	out, err := c.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: &c.TargetGroupARN})
	if err != nil {
		return fmt.Errorf("describe target health of %s: %w", c.TargetGroupARN, err)
	}
	health := map[string]elbtypes.TargetHealthDescription{}
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil {
			continue
		}
		health[fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port))] = d
	}
	for _, t := range tasks {
		healthy, found := false, false
		for _, key := range targetKeys(t, ec2IDs[aws.ToString(t.ContainerInstanceArn)]) {
			d, ok := health[key]
			if !ok {
				continue
			}
			found = true
			if d.TargetHealth != nil && d.TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy {
				healthy = true
				continue
			}
			st.unhealthy = append(st.unhealthy, describeTarget(key, d.TargetHealth))
		}
		if found {
			st.targets++
		}
		if healthy {
			st.newHealthy++
		}
	}
	return nil
}

// targetKeys lists the target-group keys (id:port) under which task t may be registered.
func targetKeys(t ecstypes.Task, ec2ID string) []string {
	var keys []string
	for _, ctr := range t.Containers {
		for _, b := range ctr.NetworkBindings {
			if ec2ID != "" && aws.ToInt32(b.HostPort) != 0 {
				keys = append(keys, fmt.Sprintf("%s:%d", ec2ID, aws.ToInt32(b.HostPort)))
			}
		}
		for _, ni := range ctr.NetworkInterfaces {
			ip := aws.ToString(ni.PrivateIpv4Address)
			for _, b := range ctr.NetworkBindings {
				if ip != "" && aws.ToInt32(b.ContainerPort) != 0 {
					keys = append(keys, fmt.Sprintf("%s:%d", ip, aws.ToInt32(b.ContainerPort)))
				}
			}
		}
	}
	return keys
}

// verdict returns the failure that st shows beyond doubt, or nil to keep waiting.
func (c Check) verdict(st state) *Failure {
	if st.primary == nil {
		return nil // between two deployments; the next look tells
	}
	primaryTD := shortTaskDefinition(aws.ToString(st.primary.TaskDefinition))
	if !sameTaskDefinition(primaryTD, c.TaskDefinition) {
		// The deploy (pulumi up) has already updated the service, so a PRIMARY
		// deployment of another task definition means ours was replaced: by a
		// rollback (circuit breaker or deployment alarm), or by a later deployment.
		why := "no deployment of it is left"
		if st.ours != nil {
			why = fmt.Sprintf("its deployment %s is %s, rollout %s", aws.ToString(st.ours.Id), aws.ToString(st.ours.Status), st.ours.RolloutState)
			if r := aws.ToString(st.ours.RolloutStateReason); r != "" {
				why += ": " + r
			}
		}
		kind, by := ErrRolledBack, ""
		if alarm, ok := c.alarmCause(st); ok {
			kind, by = ErrAlarmRolledBack, " by "+alarm
		}
		return c.failure(kind, st, "rollout: %s was rolled back%s: the PRIMARY deployment %s runs %s (rollout %s), not the deployed %s (%s). A rollback is never a success",
			st.want, by, aws.ToString(st.primary.Id), primaryTD, st.primary.RolloutState, st.want, why)
	}
	if st.primary.RolloutState == ecstypes.DeploymentRolloutStateFailed {
		by := ""
		if alarm, ok := c.alarmCause(st); ok {
			by = " (" + alarm + ")"
		}
		return c.failure(ErrFailed, st, "rollout: deployment %s of %s FAILED%s: %s", aws.ToString(st.primary.Id), st.want, by, orNone(aws.ToString(st.primary.RolloutStateReason)))
	}
	if len(st.stopped) >= c.MaxStoppedTasks {
		return c.failure(ErrTasksStopping, st, "rollout: %d tasks of %s stopped since deployment %s began (limit %d): they do not stay up",
			len(st.stopped), st.want, aws.ToString(st.primary.Id), c.MaxStoppedTasks)
	}
	return nil
}

// failure is a Failure of the given kind with what st shows.
func (c Check) failure(kind error, st state, summary string, args ...any) *Failure {
	return &Failure{Kind: kind, Summary: fmt.Sprintf(summary, args...), StoppedTasks: st.stopped, Targets: st.unhealthy, Events: st.events}
}

// alarmCause tells whether a deployment alarm ended our deployment, and names it:
// ECS says so in the deployment's rolloutStateReason and in the service's events,
// naming the alarm. Only events since our deployment began count, so an earlier
// deployment's alarm is not blamed on this one.
func (c Check) alarmCause(st state) (string, bool) {
	var texts []string
	var since time.Time
	for _, d := range []*ecstypes.Deployment{st.ours, st.primary} {
		if d != nil {
			texts = append(texts, aws.ToString(d.RolloutStateReason))
		}
	}
	if st.ours != nil {
		since = aws.ToTime(st.ours.CreatedAt)
	}
	for _, e := range st.serviceEvents {
		if !aws.ToTime(e.CreatedAt).Before(since) {
			texts = append(texts, aws.ToString(e.Message))
		}
	}
	known := slices.Clone(c.DeploymentAlarms)
	for _, a := range st.alarms {
		if !slices.Contains(known, a) {
			known = append(known, a)
		}
	}
	var named []string
	mentioned := false
	for _, t := range texts {
		mentioned = mentioned || strings.Contains(strings.ToLower(t), "alarm")
		for _, a := range known {
			if a != "" && strings.Contains(t, a) && !slices.Contains(named, a) {
				named = append(named, a)
			}
		}
	}
	switch {
	case len(named) == 1:
		return "deployment alarm " + named[0], true
	case len(named) > 1:
		return "deployment alarms " + strings.Join(named, ", "), true
	case mentioned && len(known) > 0:
		return "a deployment alarm (configured: " + strings.Join(known, ", ") + ")", true
	case mentioned:
		return "a deployment alarm", true
	}
	return "", false
}

// transient reports whether err is one the SDK itself would retry (throttling, a
// 5xx, a broken connection): worth another look after a pause, unlike a missing
// cluster or denied access.
func transient(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// backoff is the pause after the n-th API error in a row: interval doubled n-1
// times, at most MaxBackoff.
func backoff(interval time.Duration, n int) time.Duration {
	d := interval
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// done reports whether the rollout is complete: PRIMARY is ours and COMPLETED, and
// one of its tasks runs healthy in the target group.
func (st state) done() bool {
	if st.primary == nil || !sameTaskDefinition(aws.ToString(st.primary.TaskDefinition), st.want) {
		return false
	}
	completed := st.primary.RolloutState == ecstypes.DeploymentRolloutStateCompleted
	if st.primary.RolloutState == "" {
		// Without a circuit breaker ECS reports no rollout state: the rollout is
		// complete when the primary is the only deployment and fully running.
		completed = st.deployment == 1 && st.primary.RunningCount == st.primary.DesiredCount
	}
	return completed && st.newRunning >= 1 && st.newHealthy >= 1
}

// progress is the one-line summary printed while waiting.
func (st state) progress() string {
	if st.primary == nil {
		return "no PRIMARY deployment yet"
	}
	p := st.primary
	return fmt.Sprintf("deployment %s (%s) %s: running %d/%d, pending %d, failed %d; healthy targets %d/%d; stopped %d; deployments %d",
		aws.ToString(p.Id), shortTaskDefinition(aws.ToString(p.TaskDefinition)), orNone(string(p.RolloutState)),
		p.RunningCount, p.DesiredCount, p.PendingCount, p.FailedTasks, st.newHealthy, st.newRunning, len(st.stopped), st.deployment)
}

// timeout reports the last state seen before the deadline.
func (c Check) timeout(last state) error {
	f := &Failure{Kind: ErrTimeout, StoppedTasks: last.stopped, Targets: last.unhealthy, Events: last.events}
	f.Summary = fmt.Sprintf("rollout: timed out after %s waiting for %s; last seen: %s", c.Timeout, shortTaskDefinition(c.TaskDefinition), last.progress())
	if last.newRunning > 0 && last.newHealthy == 0 {
		f.Summary += fmt.Sprintf("; none of the %d running task(s) is healthy in the target group", last.newRunning)
	}
	return f
}

// smoke sends GET /readyz, GET /v2?pkey= and, when a fill is required, GET
// /v2/ad?pkey= through the load balancer. A target just registered may answer a
// moment late, and the demo ad server may not bid on one request, so each request
// is tried up to three times.
func (c Check) smoke(ctx context.Context) error {
	paths := []string{"/readyz"}
	if c.Pkey != "" {
		paths = append(paths, "/v2?pkey="+url.QueryEscape(c.Pkey))
		if c.RequireFill {
			paths = append(paths, "/v2/ad?pkey="+url.QueryEscape(c.Pkey))
		}
	}
	for _, path := range paths {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return fmt.Errorf("GET %s: %w (last: %v)", path, ctx.Err(), err)
				case <-time.After(c.PollInterval):
				}
			}
			if err = c.get(ctx, path); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c Check) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && path != "/readyz":
		return fmt.Errorf("GET %s: status 404: the smoke placement %q is not in the stack's Redis (load it with `make seed ENV=...`, or pass another -pkey): %s", path, c.Pkey, snippet(body))
	case resp.StatusCode == http.StatusNoContent && strings.HasPrefix(path, "/v2/ad?"):
		return fmt.Errorf("GET %s: status 204, no fill: this stack requires one (its upstream is the demo ad server); is the upstream reachable and bidding?", path)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: status %d, want 200: %s", path, resp.StatusCode, snippet(body))
	case strings.HasPrefix(path, "/v2?"):
		return checkMediation(body, c.Pkey)
	case strings.HasPrefix(path, "/v2/ad?"):
		return checkFill(body, c.Pkey)
	}
	return nil
}
