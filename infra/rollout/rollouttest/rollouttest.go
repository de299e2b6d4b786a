// Package rollouttest is a fake of the slice of the ECS and ELBv2 APIs that the
// rollout check calls, spoken over HTTP as AWS speaks them (ECS: JSON 1.1 with
// X-Amz-Target; ELBv2: the query protocol with XML answers), so tests drive the
// real aws-sdk-go-v2 clients against it.
//
// A test scripts a rollout as a list of frames. Each DescribeServices call moves to
// the next frame (staying on the last one); the other calls answer from the current
// frame, so a poll of the check sees one consistent picture. Fail scripts API
// errors. Like ECS, the fake pages ListTasks by 100 and refuses a Describe of more
// than 100 tasks or container instances.
package rollouttest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// Names the fake answers to.
const (
	Cluster        = "asap-staging"
	Service        = "asap"
	Region         = "us-east-1"
	TargetGroupARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/asap-staging/0123456789abcdef"
	account        = "123456789012"
	// describeLimit is the most tasks or container instances ECS describes in one call.
	describeLimit = 100
)

// TaskDefinitionARN returns the ARN of family:revision in the fake's account.
func TaskDefinitionARN(familyRevision string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s", Region, account, familyRevision)
}

// Frame is the state of the service at one poll.
type Frame struct {
	// Status is the service's status; empty means ACTIVE.
	Status      string
	Deployments []Deployment
	// Events are the service's events, newest first as ECS lists them.
	Events  []string
	Tasks   []Task
	Targets []Target
	// Alarms are the CloudWatch alarms of the service's deployment configuration
	// (enabled, with rollback); none means the service has no deployment alarms.
	Alarms []string
}

// Deployment is one of the service's deployments.
type Deployment struct {
	ID string
	// Status is PRIMARY, ACTIVE or INACTIVE.
	Status string
	// TaskDefinition is family:revision.
	TaskDefinition string
	// RolloutState is IN_PROGRESS, COMPLETED, FAILED or empty.
	RolloutState       string
	RolloutStateReason string
	Desired, Running   int
	Pending, Failed    int
	// CreatedAt orders deployments; the zero value is the fake's epoch.
	CreatedAt time.Time
}

// Task is one task of the service, on an EC2 instance with bridge networking.
type Task struct {
	ID string
	// TaskDefinition is family:revision.
	TaskDefinition string
	// LastStatus is PROVISIONING, PENDING, RUNNING, STOPPED...; DesiredStatus RUNNING or STOPPED.
	LastStatus, DesiredStatus string
	StopCode, StoppedReason   string
	// ExitCode and ContainerReason describe the container "asap"; nil means no exit code.
	ExitCode        *int
	ContainerReason string
	// Instance is the EC2 instance id and HostPort the dynamic host port of container port 8080.
	Instance string
	HostPort int
	// CreatedAt is compared with the deployment's; the zero value is the fake's epoch plus one second.
	CreatedAt time.Time
}

// Target is one target of the target group.
type Target struct {
	Instance string
	Port     int
	// State is initial, healthy, unhealthy, draining...; Reason and Description as ELB reports them.
	State, Reason, Description string
}

// Epoch is the time the fake's zero CreatedAt values stand for.
var Epoch = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

// Server is the running fake.
type Server struct {
	URL string

	t      testing.TB
	mu     sync.Mutex
	frames []Frame
	polls  int
	calls  map[string]int
	fails  map[string][]APIError
}

// APIError is an error the fake answers instead of an operation's result.
type APIError struct {
	// Status is the HTTP status, such as 400 for throttling or 503.
	Status int
	// Code is the AWS error code, such as ThrottlingException (ECS), Throttling
	// (ELBv2) or ServerException.
	Code    string
	Message string
}

// Fail makes the next len(errs) calls of op (such as "DescribeServices" or
// "DescribeTargetHealth") answer errs, one each, in order; a zero APIError lets its
// call through. A failed DescribeServices does not move to the next frame.
func (s *Server) Fail(op string, errs ...APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[op] = append(s.fails[op], errs...)
}

// nextFailure pops the error scripted for op, if any.
func (s *Server) nextFailure(op string) (APIError, bool) {
	q := s.fails[op]
	if len(q) == 0 {
		return APIError{}, false
	}
	s.fails[op] = q[1:]
	return q[0], q[0].Status != 0
}

// NewServer starts a fake that plays frames; it is closed when the test ends.
func NewServer(t testing.TB, frames ...Frame) *Server {
	t.Helper()
	if len(frames) == 0 {
		t.Fatal("rollouttest: at least one frame is needed")
	}
	s := &Server{t: t, frames: frames, calls: map[string]int{}, fails: map[string][]APIError{}}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Clients returns real SDK clients pointed at the fake, with static credentials.
func (s *Server) Clients() (*ecs.Client, *elbv2.Client) {
	cfg := aws.Config{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
		RetryMaxAttempts: 1,
	}
	return ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(s.URL) }),
		elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// Polls returns how many times DescribeServices was called.
func (s *Server) Polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// Calls returns how many times the operation (such as "DescribeTargetHealth") was called.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) frame() Frame {
	i := max(s.polls-1, 0)
	return s.frames[min(i, len(s.frames)-1)]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "request is not signed with SigV4", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveECS(w, target, body)
		return
	}
	s.serveELB(w, body)
}

// --- ECS: JSON 1.1 ---

type ecsError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (s *Server) serveECS(w http.ResponseWriter, target string, body []byte) {
	op, ok := strings.CutPrefix(target, "AmazonEC2ContainerServiceV20141113.")
	if !ok {
		writeJSON(w, http.StatusBadRequest, ecsError{"UnknownOperationException", "unknown target " + target})
		return
	}
	s.calls[op]++
	if e, ok := s.nextFailure(op); ok {
		writeJSON(w, e.Status, ecsError{e.Code, e.Message})
		return
	}
	var in struct {
		Cluster            string   `json:"cluster"`
		Services           []string `json:"services"`
		ServiceName        string   `json:"serviceName"`
		DesiredStatus      string   `json:"desiredStatus"`
		Tasks              []string `json:"tasks"`
		ContainerInstances []string `json:"containerInstances"`
		NextToken          string   `json:"nextToken"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, ecsError{"SerializationException", err.Error()})
		return
	}
	if in.Cluster != Cluster {
		writeJSON(w, http.StatusBadRequest, ecsError{"ClusterNotFoundException", "Cluster not found."})
		return
	}
	switch op {
	case "DescribeServices":
		s.polls++
		f := s.frame()
		var services, failures []any
		for _, name := range in.Services {
			if name != Service {
				failures = append(failures, map[string]any{"arn": s.serviceARN(name), "reason": "MISSING"})
				continue
			}
			services = append(services, s.service(f))
		}
		writeJSON(w, http.StatusOK, map[string]any{"services": services, "failures": failures})
	case "ListTasks":
		if in.ServiceName != Service {
			writeJSON(w, http.StatusBadRequest, ecsError{"ServiceNotFoundException", "Service not found."})
			return
		}
		arns := []string{}
		for _, t := range s.frame().Tasks {
			desired := t.DesiredStatus
			if desired == "" {
				desired = "RUNNING"
			}
			if in.DesiredStatus == "" || in.DesiredStatus == desired {
				arns = append(arns, taskARN(t.ID))
			}
		}
		// Pages of 100, as ECS's default maxResults; the token is the next offset.
		from := 0
		if in.NextToken != "" {
			if _, err := fmt.Sscan(in.NextToken, &from); err != nil || from < 0 || from > len(arns) {
				writeJSON(w, http.StatusBadRequest, ecsError{"InvalidParameterException", "bad nextToken"})
				return
			}
		}
		page := map[string]any{"taskArns": arns[from:min(from+describeLimit, len(arns))]}
		if from+describeLimit < len(arns) {
			page["nextToken"] = fmt.Sprint(from + describeLimit)
		}
		writeJSON(w, http.StatusOK, page)
	case "DescribeTasks":
		if len(in.Tasks) > describeLimit {
			writeJSON(w, http.StatusBadRequest, ecsError{"InvalidParameterException", "Tasks cannot be longer than 100."})
			return
		}
		byARN := map[string]Task{}
		for _, t := range s.frame().Tasks {
			byARN[taskARN(t.ID)] = t
		}
		tasks, failures := []any{}, []any{}
		for _, arn := range in.Tasks {
			t, ok := byARN[arn]
			if !ok {
				failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
				continue
			}
			tasks = append(tasks, task(t))
		}
		writeJSON(w, http.StatusOK, map[string]any{"tasks": tasks, "failures": failures})
	case "DescribeContainerInstances":
		if len(in.ContainerInstances) > describeLimit {
			writeJSON(w, http.StatusBadRequest, ecsError{"InvalidParameterException", "ContainerInstances cannot be longer than 100."})
			return
		}
		var cis []any
		for _, arn := range in.ContainerInstances {
			_, instance, _ := strings.Cut(arn, "container-instance/"+Cluster+"/")
			cis = append(cis, map[string]any{"containerInstanceArn": arn, "ec2InstanceId": instance, "status": "ACTIVE"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"containerInstances": cis, "failures": []any{}})
	default:
		writeJSON(w, http.StatusBadRequest, ecsError{"UnknownOperationException", "the fake does not serve " + op})
	}
}

func (s *Server) serviceARN(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, account, Cluster, name)
}

func (s *Server) service(f Frame) map[string]any {
	status := f.Status
	if status == "" {
		status = "ACTIVE"
	}
	deployments := []any{}
	svc := map[string]any{
		"serviceName": Service, "serviceArn": s.serviceARN(Service), "status": status,
		"clusterArn": fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, account, Cluster),
	}
	for _, d := range f.Deployments {
		created := d.CreatedAt
		if created.IsZero() {
			created = Epoch
		}
		dep := map[string]any{
			"id": d.ID, "status": d.Status, "taskDefinition": TaskDefinitionARN(d.TaskDefinition),
			"desiredCount": d.Desired, "runningCount": d.Running, "pendingCount": d.Pending, "failedTasks": d.Failed,
			"createdAt": epochSeconds(created), "updatedAt": epochSeconds(created), "launchType": "EC2",
		}
		if d.RolloutState != "" {
			dep["rolloutState"] = d.RolloutState
		}
		if d.RolloutStateReason != "" {
			dep["rolloutStateReason"] = d.RolloutStateReason
		}
		deployments = append(deployments, dep)
		if d.Status == "PRIMARY" {
			svc["taskDefinition"] = TaskDefinitionARN(d.TaskDefinition)
			svc["desiredCount"], svc["runningCount"], svc["pendingCount"] = d.Desired, d.Running, d.Pending
		}
	}
	svc["deployments"] = deployments
	if len(f.Alarms) > 0 {
		svc["deploymentConfiguration"] = map[string]any{
			"maximumPercent": 200, "minimumHealthyPercent": 100,
			"deploymentCircuitBreaker": map[string]any{"enable": true, "rollback": true},
			"alarms":                   map[string]any{"alarmNames": f.Alarms, "enable": true, "rollback": true},
		}
	}
	events := []any{}
	for i, msg := range f.Events {
		events = append(events, map[string]any{
			"id": fmt.Sprintf("event-%d", len(f.Events)-i), "message": msg,
			"createdAt": epochSeconds(Epoch.Add(time.Duration(len(f.Events)-i) * time.Second)),
		})
	}
	svc["events"] = events
	return svc
}

func taskARN(id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, account, Cluster, id)
}

func task(t Task) map[string]any {
	created := t.CreatedAt
	if created.IsZero() {
		created = Epoch.Add(time.Second)
	}
	desired := t.DesiredStatus
	if desired == "" {
		desired = "RUNNING"
	}
	ctr := map[string]any{"name": "asap", "lastStatus": t.LastStatus, "taskArn": taskARN(t.ID)}
	if t.ExitCode != nil {
		ctr["exitCode"] = *t.ExitCode
	}
	if t.ContainerReason != "" {
		ctr["reason"] = t.ContainerReason
	}
	if t.HostPort != 0 {
		ctr["networkBindings"] = []any{map[string]any{"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": t.HostPort, "protocol": "tcp"}}
	}
	out := map[string]any{
		"taskArn": taskARN(t.ID), "taskDefinitionArn": TaskDefinitionARN(t.TaskDefinition),
		"lastStatus": t.LastStatus, "desiredStatus": desired, "createdAt": epochSeconds(created),
		"launchType": "EC2", "containers": []any{ctr},
	}
	if t.Instance != "" {
		out["containerInstanceArn"] = fmt.Sprintf("arn:aws:ecs:%s:%s:container-instance/%s/%s", Region, account, Cluster, t.Instance)
	}
	if t.StopCode != "" {
		out["stopCode"] = t.StopCode
	}
	if t.StoppedReason != "" {
		out["stoppedReason"] = t.StoppedReason
	}
	return out
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// --- ELBv2: query protocol, XML answers ---

type elbTargetHealth struct {
	XMLName   xml.Name    `xml:"DescribeTargetHealthResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Members   []elbMember `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
	RequestID string      `xml:"ResponseMetadata>RequestId"`
}

type elbMember struct {
	TargetID        string `xml:"Target>Id"`
	TargetPort      int    `xml:"Target>Port"`
	HealthCheckPort string `xml:"HealthCheckPort"`
	State           string `xml:"TargetHealth>State"`
	Reason          string `xml:"TargetHealth>Reason,omitempty"`
	Description     string `xml:"TargetHealth>Description,omitempty"`
}

type elbError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ID      string   `xml:"RequestId"`
}

func (s *Server) serveELB(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/xml")
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Version") != "2015-12-01" {
		writeXML(w, http.StatusBadRequest, elbError{Type: "Sender", Code: "MalformedQueryString", Message: "want a 2015-12-01 query request", ID: "fake"})
		return
	}
	op := form.Get("Action")
	s.calls[op]++
	if e, ok := s.nextFailure(op); ok {
		kind := "Sender"
		if e.Status >= 500 {
			kind = "Receiver"
		}
		writeXML(w, e.Status, elbError{Type: kind, Code: e.Code, Message: e.Message, ID: "fake"})
		return
	}
	if op != "DescribeTargetHealth" {
		writeXML(w, http.StatusBadRequest, elbError{Type: "Sender", Code: "InvalidAction", Message: "the fake does not serve " + op, ID: "fake"})
		return
	}
	if form.Get("TargetGroupArn") != TargetGroupARN {
		writeXML(w, http.StatusBadRequest, elbError{Type: "Sender", Code: "TargetGroupNotFound", Message: "One or more target groups not found", ID: "fake"})
		return
	}
	out := elbTargetHealth{Xmlns: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", RequestID: "fake"}
	for _, t := range s.frame().Targets {
		out.Members = append(out.Members, elbMember{
			TargetID: t.Instance, TargetPort: t.Port, HealthCheckPort: fmt.Sprint(t.Port),
			State: t.State, Reason: t.Reason, Description: t.Description,
		})
	}
	writeXML(w, http.StatusOK, out)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(v)
}
