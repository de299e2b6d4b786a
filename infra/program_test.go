package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

var stacks = []string{"staging", "production"}

// eachStack runs the program once per stack with that stack's real configuration.
func eachStack(t *testing.T, check func(t *testing.T, run *stackRun)) {
	t.Helper()
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			check(t, mustRun(t, stack, stackConfig(t, stack)))
		})
	}
}

// Resource type tokens of pulumi-aws v6.
const (
	tVpc            = "aws:ec2/vpc:Vpc"
	tSubnet         = "aws:ec2/subnet:Subnet"
	tIgw            = "aws:ec2/internetGateway:InternetGateway"
	tNat            = "aws:ec2/natGateway:NatGateway"
	tEip            = "aws:ec2/eip:Eip"
	tRouteTable     = "aws:ec2/routeTable:RouteTable"
	tRouteAssoc     = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	tSG             = "aws:ec2/securityGroup:SecurityGroup"
	tSGRule         = "aws:ec2/securityGroupRule:SecurityGroupRule"
	tLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	tASG            = "aws:autoscaling/group:Group"
	tRepo           = "aws:ecr/repository:Repository"
	tLifecycle      = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
	tCluster        = "aws:ecs/cluster:Cluster"
	tCapacity       = "aws:ecs/capacityProvider:CapacityProvider"
	tClusterCap     = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
	tTaskDef        = "aws:ecs/taskDefinition:TaskDefinition"
	tService        = "aws:ecs/service:Service"
	tLB             = "aws:lb/loadBalancer:LoadBalancer"
	tTargetGroup    = "aws:lb/targetGroup:TargetGroup"
	tListener       = "aws:lb/listener:Listener"
	tRole           = "aws:iam/role:Role"
	tRolePolicy     = "aws:iam/rolePolicy:RolePolicy"
	tAttachment     = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tProfile        = "aws:iam/instanceProfile:InstanceProfile"
	tScaleTarget    = "aws:appautoscaling/target:Target"
	tScalePolicy    = "aws:appautoscaling/policy:Policy"
	tLogGroup       = "aws:cloudwatch/logGroup:LogGroup"
	tAlarm          = "aws:cloudwatch/metricAlarm:MetricAlarm"
	tDashboard      = "aws:cloudwatch/dashboard:Dashboard"
	tTopic          = "aws:sns/topic:Topic"
	tRedis          = "aws:elasticache/replicationGroup:ReplicationGroup"
	tRedisSubnets   = "aws:elasticache/subnetGroup:SubnetGroup"
	tDockerImage    = "docker:index/image:Image"
	tRecord         = "aws:route53/record:Record"
)

func TestInventory(t *testing.T) {
	// Both stacks create their VPC and Redis and serve HTTP only.
	base := map[string][]string{
		tVpc:            {"vpc"},
		tIgw:            {"igw"},
		tSubnet:         {"private-0", "private-1", "public-0", "public-1"},
		tRouteTable:     {"private-routes-0", "private-routes-1", "public-routes"},
		tRouteAssoc:     {"private-0", "private-1", "public-0", "public-1"},
		tSG:             {"asap", "instances", "lb", "redis"},
		tSGRule:         {"instances-in-lb", "instances-out", "lb-in-80", "lb-out-tasks", "redis-in-asap"},
		tLaunchTemplate: {"instances"},
		tASG:            {"instances"},
		tRepo:           {"asap"},
		tSecret:         {"admin-tokens", "redis-auth"},
		tSecretVersion:  {"admin-tokens", "redis-auth"},
		tLifecycle:      {"asap"},
		tCluster:        {"cluster"},
		tCapacity:       {"instances"},
		tClusterCap:     {"cluster"},
		tTaskDef:        {"asap"},
		tService:        {"asap"},
		tLB:             {"lb"},
		tTargetGroup:    {"tasks"},
		tListener:       {"http"},
		tRole:           {"instance", "task", "task-execution"},
		tRolePolicy:     {"task", "task-execution"},
		tAttachment:     {"instance-ecs", "instance-ssm"},
		tProfile:        {"instance"},
		tScaleTarget:    {"asap"},
		tScalePolicy:    {"cpu", "requests"},
		tLogGroup:       {"asap", "metrics"},
		tDashboard:      {"asap"},
		tTopic:          {"alarms"},
		tRedis:          {"redis"},
		tRedisSubnets:   {"redis"},
	}
	// Staging builds its image; production runs a promoted one.
	images := map[string][]string{"staging": {"asap"}}
	nats := map[string][]string{
		"staging":    {"nat-0"},
		"production": {"nat-0", "nat-1"},
	}
	alarms := map[string][]string{
		"staging": {"cpu", "latency-p99", "lb-5xx", "memory", "metrics-heartbeat", "shed", "stale-placements", "target-5xx", "unhealthy-hosts",
			"upstream-primary-errors", "upstream-primary-timeouts"},
		"production": {"cpu", "latency-p99", "lb-5xx", "memory", "metrics-heartbeat", "shed", "stale-placements", "target-5xx", "unhealthy-hosts",
			"upstream-exchange-b-errors", "upstream-exchange-b-timeouts", "upstream-primary-errors", "upstream-primary-timeouts"},
	}
	eachStack(t, func(t *testing.T, run *stackRun) {
		want := map[string][]string{tNat: nats[run.stack], tEip: nats[run.stack], tAlarm: alarms[run.stack]}
		if images[run.stack] != nil {
			want[tDockerImage] = images[run.stack]
		}
		for typ, names := range base {
			want[typ] = names
		}
		got := map[string][]string{}
		for _, r := range run.resources {
			got[r.Type] = append(got[r.Type], r.Name)
		}
		for typ := range got {
			slices.Sort(got[typ])
		}
		for typ, names := range want {
			if !slices.Equal(got[typ], names) {
				t.Errorf("%s: got %v, want %v", typ, got[typ], names)
			}
		}
		for typ, names := range got {
			if _, ok := want[typ]; !ok {
				t.Errorf("unexpected resources %s %v", typ, names)
			}
		}
	})
}

// publicCidrs are the recorded public subnets' ranges, joined as ASAP_TRUSTED_PROXIES
// takes them.
func publicCidrs(run *stackRun) string {
	var cidrs []string
	for _, s := range run.all(tSubnet) {
		if strings.HasPrefix(s.Name, "public-") {
			cidrs = append(cidrs, str(s.Inputs, "cidrBlock"))
		}
	}
	return strings.Join(cidrs, ",")
}

// sgID returns the mock id of a security group by resource name.
func sgID(t *testing.T, run *stackRun, name string) string {
	t.Helper()
	return run.one(t, tSG, name).ID
}

// containerDefs decodes the task's container definitions into the ECS API's own type,
// refusing any field the API does not know.
func containerDefs(t *testing.T, run *stackRun) []ecstypes.ContainerDefinition {
	t.Helper()
	raw := str(run.one(t, tTaskDef, "asap").Inputs, "containerDefinitions")
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var defs []ecstypes.ContainerDefinition
	if err := dec.Decode(&defs); err != nil {
		t.Fatalf("container definitions do not decode into ecs/types.ContainerDefinition: %v\n%s", err, raw)
	}
	return defs
}

// container is the task's container of that name.
func container(t *testing.T, run *stackRun, name string) ecstypes.ContainerDefinition {
	t.Helper()
	for _, d := range containerDefs(t, run) {
		if derefString(d.Name) == name {
			return d
		}
	}
	t.Fatalf("%s: no container %q in the task", run.stack, name)
	return ecstypes.ContainerDefinition{}
}

// envOf is a container's environment as a map.
func envOf(def ecstypes.ContainerDefinition) map[string]string {
	env := map[string]string{}
	for _, kv := range def.Environment {
		env[derefString(kv.Name)] = derefString(kv.Value)
	}
	return env
}

func TestPortsLineUp(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		def := container(t, run, containerName)
		if len(def.PortMappings) != 1 {
			t.Fatalf("got %d port mappings, want 1 (the admin port stays unmapped)", len(def.PortMappings))
		}
		for _, d := range containerDefs(t, run) {
			if derefString(d.Name) != containerName && len(d.PortMappings) > 0 {
				t.Errorf("sidecar %s maps ports %v; only ASAP's public port is mapped", derefString(d.Name), d.PortMappings)
			}
		}
		pm := def.PortMappings[0]
		if got := derefInt32(pm.ContainerPort); got != containerPort {
			t.Errorf("container port: got %d, want %d", got, containerPort)
		}
		if got := derefInt32(pm.HostPort); got != 0 {
			t.Errorf("host port: got %d, want 0 (dynamic)", got)
		}

		svc := run.one(t, tService, "asap").Inputs
		lbs := list(svc, "loadBalancers")
		if len(lbs) != 1 {
			t.Fatalf("service load balancers: got %d, want 1", len(lbs))
		}
		attach := lbs[0].(map[string]any)
		tg := run.one(t, tTargetGroup, "tasks")
		if got := num(attach, "containerPort"); got != containerPort {
			t.Errorf("service containerPort: got %d, want %d", got, containerPort)
		}
		if got, want := str(attach, "containerName"), derefString(def.Name); got != want {
			t.Errorf("service containerName: got %q, want %q", got, want)
		}
		if got, want := str(attach, "targetGroupArn"), str(tg.Outputs, "arn"); got != want {
			t.Errorf("service target group: got %q, want %q", got, want)
		}
		if got := num(tg.Inputs, "port"); got != containerPort {
			t.Errorf("target group port: got %d, want %d", got, containerPort)
		}
		if got := str(obj(tg.Inputs, "healthCheck"), "port"); got != "traffic-port" {
			t.Errorf("health check port: got %q, want traffic-port (the task's dynamic port)", got)
		}
		if got := str(tg.Inputs, "targetType"); got != "instance" {
			t.Errorf("target type: got %q, want instance (bridge networking)", got)
		}

		// The load balancer reaches the dynamic host ports, and only the load balancer.
		lbSG, instSG := sgID(t, run, "lb"), sgID(t, run, "instances")
		out := run.one(t, tSGRule, "lb-out-tasks").Inputs
		in := run.one(t, tSGRule, "instances-in-lb").Inputs
		for name, r := range map[string]map[string]any{"lb-out-tasks": out, "instances-in-lb": in} {
			if num(r, "fromPort") != hostPortFrom || num(r, "toPort") != hostPortTo || str(r, "protocol") != "tcp" {
				t.Errorf("%s: got %s %d-%d, want tcp %d-%d", name, str(r, "protocol"), num(r, "fromPort"), num(r, "toPort"), hostPortFrom, hostPortTo)
			}
		}
		if str(out, "securityGroupId") != lbSG || str(out, "sourceSecurityGroupId") != instSG {
			t.Errorf("lb-out-tasks: got %s -> %s, want %s -> %s", str(out, "securityGroupId"), str(out, "sourceSecurityGroupId"), lbSG, instSG)
		}
		if str(in, "securityGroupId") != instSG || str(in, "sourceSecurityGroupId") != lbSG {
			t.Errorf("instances-in-lb: got %s <- %s, want %s <- %s", str(in, "securityGroupId"), str(in, "sourceSecurityGroupId"), instSG, lbSG)
		}

		// The load balancer's group opens exactly its listener ports.
		var listenerPorts, openPorts []int
		for _, l := range run.all(tListener) {
			listenerPorts = append(listenerPorts, num(l.Inputs, "port"))
		}
		for _, r := range run.all(tSGRule) {
			if str(r.Inputs, "securityGroupId") == lbSG && str(r.Inputs, "type") == "ingress" {
				if num(r.Inputs, "fromPort") != num(r.Inputs, "toPort") {
					t.Errorf("%s: opens a port range on the load balancer", r.Name)
				}
				openPorts = append(openPorts, num(r.Inputs, "fromPort"))
			}
		}
		slices.Sort(listenerPorts)
		slices.Sort(openPorts)
		if !slices.Equal(listenerPorts, openPorts) || !slices.Equal(listenerPorts, []int{httpPort}) {
			t.Errorf("listener ports %v, load balancer group opens %v, want both [80]", listenerPorts, openPorts)
		}
		if lt := run.one(t, tLaunchTemplate, "instances").Inputs; !slices.Contains(strs(lt, "vpcSecurityGroupIds"), instSG) ||
			!slices.Contains(strs(lt, "vpcSecurityGroupIds"), sgID(t, run, "asap")) {
			t.Errorf("instances get groups %v, want the instances and asap groups", strs(lt, "vpcSecurityGroupIds"))
		}
		if got := strs(run.one(t, tLB, "lb").Inputs, "securityGroups"); !slices.Equal(got, []string{lbSG}) {
			t.Errorf("load balancer groups: got %v, want [%s]", got, lbSG)
		}
	})
}

func TestTargetGroupHealthCheck(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		tg := run.one(t, tTargetGroup, "tasks").Inputs
		hc := obj(tg, "healthCheck")
		checks := []struct {
			field string
			got   any
			want  any
		}{
			{"path", str(hc, "path"), "/readyz"},
			{"matcher", str(hc, "matcher"), "200"},
			{"interval", num(hc, "interval"), 5},
			{"timeout", num(hc, "timeout"), 3},
			{"healthyThreshold", num(hc, "healthyThreshold"), 2},
			{"unhealthyThreshold", num(hc, "unhealthyThreshold"), 2},
			{"deregistrationDelay", num(tg, "deregistrationDelay"), atoi(t, run.config["asap:deregistrationDelay"])},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
			}
		}
	})
}

func TestContainerDefinition(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		def := container(t, run, containerName)
		if got, want := derefInt32(def.StopTimeout), atoi(t, run.config["asap:stopTimeout"]); got != want {
			t.Errorf("stopTimeout: got %d, want %d", got, want)
		}
		if def.Essential == nil || !*def.Essential {
			t.Error("container is not essential")
		}
		hc := def.HealthCheck
		if hc == nil {
			t.Fatal("no container health check")
		}
		if got, want := hc.Command, []string{"CMD", "/asap", "healthcheck"}; !slices.Equal(got, want) {
			t.Errorf("health check command: got %q, want %q", got, want)
		}
		if got := []int{derefInt32(hc.Interval), derefInt32(hc.Timeout), derefInt32(hc.Retries), derefInt32(hc.StartPeriod)}; !slices.Equal(got, []int{10, 3, 3, 15}) {
			t.Errorf("health check interval/timeout/retries/startPeriod: got %v, want [10 3 3 15]", got)
		}
		lc := def.LogConfiguration
		if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs {
			t.Fatalf("log configuration: got %+v, want the awslogs driver", lc)
		}
		if got, want := lc.Options["awslogs-group"], run.outputs["logGroupName"]; got != want || want == "" {
			t.Errorf("awslogs-group: got %q, want %q", got, want)
		}
		if got, want := lc.Options["awslogs-region"], run.config["aws:region"]; got != want {
			t.Errorf("awslogs-region: got %q, want %q", got, want)
		}
		if lc.Options["awslogs-stream-prefix"] == "" {
			t.Error("awslogs-stream-prefix is not set")
		}

		env := envOf(def)
		wantEnv := map[string]string{
			"ASAP_ENV":              run.stack,
			"ASAP_UPSTREAMS":        run.config["asap:upstreams"],
			"ASAP_REDIS_KEY_PREFIX": "asap:",
			"ASAP_REDIS_URL":        "rediss://" + str(run.one(t, tRedis, "redis").Outputs, "primaryEndpointAddress") + ":6379/0",
			"ASAP_TRUSTED_PROXIES":  publicCidrs(run),
			"GOMEMLIMIT":            fmt.Sprintf("%dMiB", atoi(t, run.config["asap:taskMemory"])*memoryLimitPercent/100),
			// Go's own default for the task's limit: 512 and 1024 CPU units both give 2.
			"GOMAXPROCS": "2",
		}
		if v := run.config["asap:upstreamVendors"]; v != "" {
			wantEnv["ASAP_UPSTREAM_VENDORS"] = v
		}
		for k, want := range wantEnv {
			if env[k] != want {
				t.Errorf("%s: got %q, want %q", k, env[k], want)
			}
		}
		if len(env) != len(wantEnv) {
			t.Errorf("environment: got %v, want exactly %v", env, wantEnv)
		}
		if got, want := derefInt32ptr(def.Memory), atoi(t, run.config["asap:taskMemory"]); got != want {
			t.Errorf("ASAP container memory: got %d, want asap:taskMemory %d", got, want)
		}

		task := run.one(t, tTaskDef, "asap").Inputs
		if got := str(task, "networkMode"); got != "bridge" {
			t.Errorf("network mode: got %q, want bridge (dynamic host ports)", got)
		}
		var sum int
		for _, d := range containerDefs(t, run) {
			sum += derefInt32ptr(d.Memory)
		}
		if got := atoi(t, str(task, "memory")); got != sum {
			t.Errorf("task memory: got %d, want the containers' %d", got, sum)
		}
		if got, want := str(task, "cpu"), run.config["asap:taskCpu"]; got != want {
			t.Errorf("task cpu: got %q, want %q", got, want)
		}
		if got, want := str(task, "executionRoleArn"), str(run.one(t, tRole, "task-execution").Outputs, "arn"); got != want {
			t.Errorf("execution role: got %q, want %q", got, want)
		}
		if got, want := str(task, "taskRoleArn"), str(run.one(t, tRole, "task").Outputs, "arn"); got != want {
			t.Errorf("task role: got %q, want %q", got, want)
		}
	})
}

func TestRepository(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		repo := run.one(t, tRepo, "asap")
		if got := run.outputs["repositoryUrl"]; got != str(repo.Outputs, "repositoryUrl") {
			t.Errorf("repositoryUrl output: got %q, want %q", got, str(repo.Outputs, "repositoryUrl"))
		}
		if !boolean(obj(repo.Inputs, "imageScanningConfiguration"), "scanOnPush") {
			t.Error("scan on push is off")
		}
		// Tag mutability and the lifecycle rules: TestRepositoryKeepsWhatTasksRun.
	})
}

// isInternetCIDR reports whether a CIDR is all of IPv4 or IPv6.
func isInternetCIDR(cidr string) bool { return cidr == "0.0.0.0/0" || cidr == "::/0" }

func TestOnlyLoadBalancerOpenToInternet(t *testing.T) {
	check := func(t *testing.T, run *stackRun) {
		lbSG := sgID(t, run, "lb")
		for _, sg := range run.all(tSG) {
			if len(list(sg.Inputs, "ingress")) > 0 || len(list(sg.Inputs, "egress")) > 0 {
				t.Errorf("security group %s has inline rules; rules are separate resources", sg.Name)
			}
		}
		for _, r := range run.all(tSGRule) {
			in := r.Inputs
			if str(in, "type") != "ingress" {
				continue
			}
			cidrs := append(strs(in, "cidrBlocks"), strs(in, "ipv6CidrBlocks")...)
			open := slices.ContainsFunc(cidrs, isInternetCIDR)
			allPorts := str(in, "protocol") == "-1" || str(in, "protocol") == "all"
			coversSSH := allPorts || (num(in, "fromPort") <= sshPort && sshPort <= num(in, "toPort"))
			if open && coversSSH {
				t.Errorf("%s allows port 22 from the internet (%v)", r.Name, cidrs)
			}
			if open && str(in, "securityGroupId") != lbSG {
				t.Errorf("%s opens %s to the internet; only the load balancer may be", r.Name, str(in, "securityGroupId"))
			}
		}
	}
	eachStack(t, check)
	withKey := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:sshKeyName", "ops", "asap:sshCidrs", `["10.0.0.0/16"]`))
	check(t, withKey)

	// The configuration refuses SSH from the internet before any rule is built.
	for _, cidr := range []string{"0.0.0.0/0", "::/0"} {
		cfg := with(stackConfig(t, "staging"), "asap:sshKeyName", "ops", "asap:sshCidrs", `["10.0.0.0/8","`+cidr+`"]`)
		_, err := runStack(t, "staging", cfg)
		if err == nil || !strings.Contains(err.Error(), "asap:sshCidrs") {
			t.Errorf("sshCidrs with %s: got error %v, want one naming asap:sshCidrs", cidr, err)
		}
	}
}

// stringOrList decodes an IAM Action or Resource, which may be a string or a list.
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

func TestIAMHasNoWildcardActionOnWildcardResource(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		var docs []string
		for _, r := range run.all(tRole) {
			docs = append(docs, str(r.Inputs, "assumeRolePolicy"))
		}
		for _, r := range run.all(tRolePolicy) {
			docs = append(docs, str(r.Inputs, "policy"))
		}
		statements := 0
		for _, doc := range docs {
			var d struct {
				Statement []struct {
					Effect   string
					Action   stringOrList
					Resource stringOrList
				}
			}
			if err := json.Unmarshal([]byte(doc), &d); err != nil {
				t.Fatalf("policy %q: %v", doc, err)
			}
			for _, s := range d.Statement {
				statements++
				wildAction := slices.ContainsFunc(s.Action, func(a string) bool { return a == "*" || strings.HasSuffix(a, ":*") })
				wildResource := slices.Contains(s.Resource, "*")
				if s.Effect == "Allow" && wildAction && wildResource {
					t.Errorf("statement allows %v on %v", s.Action, s.Resource)
				}
			}
		}
		if statements < 6 {
			t.Errorf("checked %d statements, want the three trust policies and the execution policy", statements)
		}

		// The execution policy is scoped to this stack's repository and log group.
		policy := str(run.one(t, tRolePolicy, "task-execution").Inputs, "policy")
		for _, want := range []string{str(run.one(t, tRepo, "asap").Outputs, "arn"), str(run.one(t, tLogGroup, "asap").Outputs, "arn") + ":log-stream:*"} {
			if !strings.Contains(policy, want) {
				t.Errorf("execution policy %s does not name %s", policy, want)
			}
		}
		// Only the two AWS managed policies the instances need are attached.
		for _, a := range run.all(tAttachment) {
			if arn := str(a.Inputs, "policyArn"); arn != ecsInstancePolicyArn && arn != ssmInstancePolicyArn {
				t.Errorf("%s attaches %s", a.Name, arn)
			}
		}
	})
}

func TestDeployment(t *testing.T) {
	wantPercents := map[string][2]int{"staging": {100, 200}, "production": {100, 200}}
	eachStack(t, func(t *testing.T, run *stackRun) {
		svc := run.one(t, tService, "asap")
		in := svc.Inputs
		want := wantPercents[run.stack]
		if got := [2]int{num(in, "deploymentMinimumHealthyPercent"), num(in, "deploymentMaximumPercent")}; got != want {
			t.Errorf("min/max healthy percent: got %v, want %v", got, want)
		}
		cb := obj(in, "deploymentCircuitBreaker")
		if !boolean(cb, "enable") || !boolean(cb, "rollback") {
			t.Errorf("circuit breaker: got %v, want enabled with rollback", cb)
		}
		if !boolean(in, "waitForSteadyState") {
			t.Error("waitForSteadyState is off")
		}
		if got := num(in, "healthCheckGracePeriodSeconds"); got <= 0 {
			t.Errorf("health check grace period: got %d, want > 0", got)
		}
		if got, want := num(in, "desiredCount"), atoi(t, run.config["asap:desiredTasks"]); got != want {
			t.Errorf("desired count: got %d, want %d", got, want)
		}
		var spreadAZ bool
		for _, p := range list(in, "orderedPlacementStrategies") {
			p := p.(map[string]any)
			spreadAZ = spreadAZ || (str(p, "type") == "spread" && str(p, "field") == "attribute:ecs.availability-zone")
		}
		if !spreadAZ {
			t.Error("tasks are not spread across availability zones")
		}
		strategies := list(in, "capacityProviderStrategies")
		provider := str(run.one(t, tCapacity, "instances").Outputs, "name")
		if len(strategies) != 1 || str(strategies[0].(map[string]any), "capacityProvider") != provider {
			t.Errorf("capacity provider strategy: got %v, want %s", strategies, provider)
		}
		// The service waits for the listener (the target group must be attached to
		// the load balancer) and for the capacity provider.
		for _, dep := range []string{"::" + tListener + "::http", "::" + tClusterCap + "::cluster"} {
			if !slices.ContainsFunc(svc.Deps, func(urn string) bool { return strings.HasSuffix(urn, dep) }) {
				t.Errorf("service does not depend on %s (deps %v)", dep, svc.Deps)
			}
		}

		target := run.one(t, tScaleTarget, "asap").Inputs
		if got, want := [2]int{num(target, "minCapacity"), num(target, "maxCapacity")},
			[2]int{atoi(t, run.config["asap:minTasks"]), atoi(t, run.config["asap:maxTasks"])}; got != want {
			t.Errorf("task autoscaling bounds: got %v, want %v", got, want)
		}
		if got, want := str(target, "resourceId"), "service/asap-"+run.stack+"/asap"; got != want {
			t.Errorf("autoscaling resource: got %q, want %q", got, want)
		}
		metrics := map[string]string{}
		for _, p := range run.all(tScalePolicy) {
			spec := obj(obj(p.Inputs, "targetTrackingScalingPolicyConfiguration"), "predefinedMetricSpecification")
			metrics[str(spec, "predefinedMetricType")] = str(spec, "resourceLabel")
		}
		if _, ok := metrics["ECSServiceAverageCPUUtilization"]; !ok {
			t.Errorf("no CPU target tracking policy: %v", metrics)
		}
		if got, want := metrics["ALBRequestCountPerTarget"], "app/asap-"+run.stack+"/50dc6c495c0c9188/targetgroup/tasks/73e2d6bc24d8a067"; got != want {
			t.Errorf("requests-per-target label: got %q, want %q", got, want)
		}
	})
}

func TestCapacity(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		lt := run.one(t, tLaunchTemplate, "instances").Inputs
		if got := str(lt, "imageId"); got != mockAMI {
			t.Errorf("AMI: got %q, want %q from %s", got, mockAMI, amiParameters["x86_64"])
		}
		if got, want := str(lt, "instanceType"), run.config["asap:instanceType"]; got != want {
			t.Errorf("instance type: got %q, want %q", got, want)
		}
		if got := str(obj(lt, "metadataOptions"), "httpTokens"); got != "required" {
			t.Errorf("IMDS tokens: got %q, want required (IMDSv2)", got)
		}
		ud, err := base64.StdEncoding.DecodeString(str(lt, "userData"))
		if err != nil || !strings.Contains(string(ud), "ECS_CLUSTER=asap-"+run.stack+"\n") {
			t.Errorf("user data does not join cluster asap-%s: %q (%v)", run.stack, ud, err)
		}
		if got, want := str(obj(lt, "iamInstanceProfile"), "arn"), str(run.one(t, tProfile, "instance").Outputs, "arn"); got != want {
			t.Errorf("instance profile: got %q, want %q", got, want)
		}

		asg := run.one(t, tASG, "instances").Inputs
		if !boolean(asg, "protectFromScaleIn") {
			t.Error("autoscaling group does not protect instances from scale-in")
		}
		var managed bool
		for _, tag := range list(asg, "tags") {
			managed = managed || str(tag.(map[string]any), "key") == "AmazonECSManaged"
		}
		if !managed {
			t.Error("autoscaling group lacks the AmazonECSManaged tag")
		}
		if got, want := [3]int{num(asg, "minSize"), num(asg, "desiredCapacity"), num(asg, "maxSize")},
			[3]int{atoi(t, run.config["asap:minInstances"]), atoi(t, run.config["asap:desiredInstances"]), atoi(t, run.config["asap:maxInstances"])}; got != want {
			t.Errorf("instances min/desired/max: got %v, want %v", got, want)
		}
		if got, want := strs(asg, "vpcZoneIdentifiers"), []string{"subnet-private-0-id", "subnet-private-1-id"}; !slices.Equal(got, want) {
			t.Errorf("instance subnets: got %v, want %v", got, want)
		}

		cp := obj(run.one(t, tCapacity, "instances").Inputs, "autoScalingGroupProvider")
		if str(cp, "managedTerminationProtection") != "ENABLED" || str(obj(cp, "managedScaling"), "status") != "ENABLED" {
			t.Errorf("capacity provider: got %v, want managed scaling and termination protection", cp)
		}
		if got, want := str(cp, "autoScalingGroupArn"), str(run.one(t, tASG, "instances").Outputs, "arn"); got != want {
			t.Errorf("capacity provider group: got %q, want %q", got, want)
		}
		settings := list(run.one(t, tCluster, "cluster").Inputs, "settings")
		if len(settings) != 1 || str(settings[0].(map[string]any), "name") != "containerInsights" || str(settings[0].(map[string]any), "value") != "enabled" {
			t.Errorf("cluster settings: got %v, want Container Insights enabled", settings)
		}
	})
}

func TestAlarmsAndDashboard(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		topic := str(run.one(t, tTopic, "alarms").Outputs, "arn")
		for _, a := range run.all(tAlarm) {
			actions := strs(a.Inputs, "alarmActions")
			if !slices.Equal(actions, []string{topic}) {
				t.Errorf("alarm %s notifies %v, want [%s]", a.Name, actions, topic)
			}
		}
		latency := run.one(t, tAlarm, "latency-p99").Inputs
		if got, want := latency["threshold"], float64(atoi(t, run.config["asap:alarmLatencyP99Ms"]))/1000; got != want {
			t.Errorf("latency threshold: got %v s, want %v s", got, want)
		}
		if got := str(latency, "extendedStatistic"); got != "p99" {
			t.Errorf("latency statistic: got %q, want p99", got)
		}
		var body dashboard
		if err := json.Unmarshal([]byte(str(run.one(t, tDashboard, "asap").Inputs, "dashboardBody")), &body); err != nil || len(body.Widgets) == 0 {
			t.Errorf("dashboard body: %v, %d widgets", err, len(body.Widgets))
		}
	})
}

func TestOutputs(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		dns := "asap-" + run.stack + "-1234567890.us-east-1.elb.amazonaws.com"
		want := map[string]string{
			"url":               "http://" + dns,
			"albDnsName":        dns,
			"clusterName":       "asap-" + run.stack,
			"serviceName":       "asap",
			"repositoryUrl":     mockAccount + ".dkr.ecr.us-east-1.amazonaws.com/asap-" + run.stack,
			"logGroupName":      "/ecs/asap-" + run.stack,
			"targetGroupArn":    str(run.one(t, tTargetGroup, "tasks").Outputs, "arn"),
			"taskDefinitionArn": str(run.one(t, tTaskDef, "asap").Outputs, "arn"),
			"region":            "us-east-1",
			"image":             derefString(container(t, run, containerName).Image),
			"smokePkey":         run.config["asap:smokePkey"],
			"adminTokensSecret": str(run.one(t, tSecret, "admin-tokens").Outputs, "arn"),
		}
		for k, v := range want {
			if got := run.outputs[k]; got != v {
				t.Errorf("output %s: got %q, want %q", k, got, v)
			}
		}
		var alarms []string
		for _, a := range list(obj(run.one(t, tService, "asap").Inputs, "alarms"), "alarmNames") {
			alarms = append(alarms, a.(string))
		}
		if got, ok := run.outputs["deploymentAlarms"].([]string); !ok || !slices.Equal(got, alarms) || len(alarms) == 0 {
			t.Errorf("output deploymentAlarms: got %#v, want the service's alarms %v", run.outputs["deploymentAlarms"], alarms)
		}
		if len(run.outputs) != len(want)+1 {
			t.Errorf("outputs: got %v, want exactly the keys of %v and deploymentAlarms", run.outputs, want)
		}
	})
}

func derefInt32(p *int32) int {
	if p == nil {
		return -1
	}
	return int(*p)
}

func derefInt32ptr(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("config value %q: %v", s, err)
	}
	return n
}

// TestGoMaxProcs: the task's vCPUs rounded up, at least 2, whatever the
// instance has: Go's default had it seen the task's limit.
func TestGoMaxProcs(t *testing.T) {
	for cpu, want := range map[int]int{128: 2, 512: 2, 1024: 2, 1536: 2, 2048: 2, 2049: 3, 3072: 3, 4096: 4} {
		c := Config{}
		c.Tasks.Cpu = cpu
		if got := goMaxProcs(c); got != want {
			t.Errorf("goMaxProcs(taskCpu %d) = %d; want %d", cpu, got, want)
		}
	}
}
