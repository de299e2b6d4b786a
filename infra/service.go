package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// containerName is ASAP's container; the service's load balancer attachment names it,
// and the sidecars reach it by this name over container links.
const containerName = "asap"

// Container health check: the binary's own `healthcheck` subcommand asks the local
// /healthz (the image has no shell or curl).
var healthCheckCommand = []string{"CMD", "/asap", "healthcheck"}

const (
	healthCheckInterval    = 10
	healthCheckTimeout     = 3
	healthCheckRetries     = 3
	healthCheckStartPeriod = 15
	// memoryLimitPercent of the ASAP container's memory becomes GOMEMLIMIT: with
	// ASAP_GC_PERCENT=400 a healthy heap grows up to it, and the rest is headroom for
	// what the runtime does not count (thread stacks outside Go, page cache of logs).
	// The task definition's GOMEMLIMIT wins over ASAP_MEMORY_LIMIT in the env file.
	memoryLimitPercent = 80
	// openFiles is the nofile limit: every client and upstream connection is a file.
	openFiles = 65536
)

// The demo ad server (service/cmd/adserver, /adserver in the staging image) as a
// container of the task: on bridge networking a container link makes it
// http://adserver:8081 for ASAP and for nothing outside the task.
const (
	demoAdServerName = "adserver"
	demoAdServerHost = demoAdServerName
	demoAdServerPort = 8081
	// demoAdServerMemory (MiB) is its hard limit.
	demoAdServerMemory = 64
)

// demoAdServerCommand makes every auction fill (the rollout check's /v2/ad smoke must).
var demoAdServerCommand = []string{"-addr", fmt.Sprintf(":%d", demoAdServerPort), "-fill", "1", "-latency", "10ms", "-jitter", "5ms"}

// goMaxProcs is the ASAP container's GOMAXPROCS: what Go's container-aware
// default picks for the task's CPU limit, the limit's vCPUs rounded up and at
// least 2 (a baseline of parallelism, golang/go#73193), had it seen the
// limit. ECS puts the task's CPU limit on the task's cgroup, a parent of the
// container's, and Go reads only the container's own (golang/go#81180): left to
// itself ASAP would run as many threads as the instance has vCPUs (4 on a
// c6i.xlarge) against a quota of one, spend each 100 ms quota period in 25 ms at
// full load and stall for the rest (docs/infrastructure.md).
func goMaxProcs(c Config) int { return max(2, (c.Tasks.Cpu+1023)/1024) }

// goMemLimitMiB is the ASAP container's GOMEMLIMIT.
func goMemLimitMiB(c Config) int { return c.Tasks.Memory * memoryLimitPercent / 100 }

// sidecarMemoryMiB is what the task reserves beside ASAP.
func sidecarMemoryMiB(c Config) int {
	m := metricsMemory
	if c.DemoAdServer {
		m += demoAdServerMemory
	}
	return m
}

// taskMemoryMiB is the task's memory: ASAP's and its sidecars'.
func taskMemoryMiB(c Config) int { return c.Tasks.Memory + sidecarMemoryMiB(c) }

// healthyMemoryPercent is the most of the task's memory a healthy task uses: ASAP at
// GOMEMLIMIT and the sidecars at their limits, rounded up.
func healthyMemoryPercent(c Config) int {
	return (100*(goMemLimitMiB(c)+sidecarMemoryMiB(c)) + taskMemoryMiB(c) - 1) / taskMemoryMiB(c)
}

// containerDefinition is the subset of the ECS ContainerDefinition the task uses, with the
// API's JSON names (tests decode it into aws-sdk-go-v2's ecs/types.ContainerDefinition).
type containerDefinition struct {
	Name                   string             `json:"name"`
	Image                  string             `json:"image"`
	Essential              bool               `json:"essential"`
	EntryPoint             []string           `json:"entryPoint,omitempty"`
	Command                []string           `json:"command,omitempty"`
	Memory                 int                `json:"memory,omitempty"`
	PortMappings           []portMapping      `json:"portMappings"`
	Links                  []string           `json:"links,omitempty"`
	DependsOn              []containerDepends `json:"dependsOn,omitempty"`
	Environment            []keyValuePair     `json:"environment"`
	Secrets                []secretRef        `json:"secrets,omitempty"`
	LogConfiguration       logConfiguration   `json:"logConfiguration"`
	HealthCheck            *healthCheck       `json:"healthCheck,omitempty"`
	StopTimeout            int                `json:"stopTimeout,omitempty"`
	ReadonlyRootFilesystem bool               `json:"readonlyRootFilesystem"`
	Ulimits                []ulimit           `json:"ulimits,omitempty"`
	RestartPolicy          *restartPolicy     `json:"restartPolicy,omitempty"`
}

// restartPolicy makes ECS restart a container that exits, in place, without
// replacing the task (a non-essential container has no other way back).
type restartPolicy struct {
	Enabled bool `json:"enabled"`
	// RestartAttemptPeriod (seconds, 60 at least) is how long a container must have
	// run before ECS restarts it again: a crash loop is not restarted forever.
	RestartAttemptPeriod int `json:"restartAttemptPeriod"`
}

type portMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

type containerDepends struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

type keyValuePair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

type healthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

type ulimit struct {
	Name      string `json:"name"`
	SoftLimit int    `json:"softLimit"`
	HardLimit int    `json:"hardLimit"`
}

// taskInputs are the values the container definitions are made of.
type taskInputs struct {
	Image, RedisURL, LogGroup, MetricsLogGroup string
	// TrustedProxies are the load balancer's subnets (ASAP_TRUSTED_PROXIES).
	TrustedProxies []string
	// Secrets are ASAP's variables that ECS fills from Secrets Manager.
	Secrets []secretRef
}

// awsLogs ships a container's output to the task log group.
func awsLogs(c Config, logGroup, prefix string) logConfiguration {
	return logConfiguration{
		LogDriver: "awslogs",
		Options: map[string]string{
			"awslogs-group":         logGroup,
			"awslogs-region":        c.Region,
			"awslogs-stream-prefix": prefix,
			// A slow CloudWatch must never stall the ad path: drop logs instead.
			"mode":            "non-blocking",
			"max-buffer-size": "4m",
		},
	}
}

// containerDefinitions is the task's container list as the JSON ECS takes: ASAP, the
// metrics sidecar and, with asap:demoAdServer, the demo ad server.
func containerDefinitions(c Config, in taskInputs) (string, error) {
	asap := containerDefinition{
		Name:      containerName,
		Image:     in.Image,
		Essential: true,
		Memory:    c.Tasks.Memory,
		// Host port 0: ECS picks a free host port per task, so several tasks share an
		// instance and a deployment can start new tasks beside the old ones. The
		// admin port has no mapping.
		PortMappings: []portMapping{{ContainerPort: containerPort, HostPort: 0, Protocol: "tcp"}},
		Environment: []keyValuePair{
			{Name: "ASAP_ENV", Value: c.Stack},
			{Name: "ASAP_REDIS_URL", Value: in.RedisURL},
			{Name: "ASAP_REDIS_KEY_PREFIX", Value: c.RedisKeyPrefix},
			{Name: "ASAP_UPSTREAMS", Value: c.Upstreams},
			{Name: "ASAP_TRUSTED_PROXIES", Value: strings.Join(in.TrustedProxies, ",")},
			{Name: "GOMEMLIMIT", Value: fmt.Sprintf("%dMiB", goMemLimitMiB(c))},
			{Name: "GOMAXPROCS", Value: strconv.Itoa(goMaxProcs(c))},
		},
		Secrets:          in.Secrets,
		LogConfiguration: awsLogs(c, in.LogGroup, containerName),
		HealthCheck: &healthCheck{
			Command:     healthCheckCommand,
			Interval:    healthCheckInterval,
			Timeout:     healthCheckTimeout,
			Retries:     healthCheckRetries,
			StartPeriod: healthCheckStartPeriod,
		},
		StopTimeout:            c.Tasks.StopTimeout,
		ReadonlyRootFilesystem: true,
		Ulimits:                []ulimit{{Name: "nofile", SoftLimit: openFiles, HardLimit: openFiles}},
	}
	if c.UpstreamVendors != "" {
		asap.Environment = append(asap.Environment, keyValuePair{Name: "ASAP_UPSTREAM_VENDORS", Value: c.UpstreamVendors})
	}
	defs := []containerDefinition{}
	if c.DemoAdServer {
		asap.Links = []string{demoAdServerName + ":" + demoAdServerHost}
		asap.DependsOn = []containerDepends{{ContainerName: demoAdServerName, Condition: "START"}}
		defs = append(defs, containerDefinition{
			Name:                   demoAdServerName,
			Image:                  in.Image,
			Essential:              true,
			EntryPoint:             []string{"/adserver"},
			Command:                demoAdServerCommand,
			Memory:                 demoAdServerMemory,
			Environment:            []keyValuePair{},
			LogConfiguration:       awsLogs(c, in.LogGroup, demoAdServerName),
			ReadonlyRootFilesystem: true,
		})
	}
	metrics, err := metricsAgentContainer(c, in.LogGroup, in.MetricsLogGroup)
	if err != nil {
		return "", err
	}
	defs = append([]containerDefinition{asap}, append(defs, metrics)...)
	b, err := json.Marshal(defs)
	if err != nil {
		return "", fmt.Errorf("marshal container definitions: %w", err)
	}
	return string(b), nil
}

// Service is the running ASAP service.
type Service struct {
	TaskDefinition *ecs.TaskDefinition
	Service        *ecs.Service
}

// LogGroups are the stack's log groups: the containers' output, and the metrics
// sidecar's EMF events (CloudWatch extracts the metrics; the events expire sooner).
type LogGroups struct {
	Tasks   *cloudwatch.LogGroup
	Metrics *cloudwatch.LogGroup
}

// metricsLogRetentionDays keeps the raw EMF events briefly: the metrics outlive them.
const metricsLogRetentionDays = 3

// newLogGroups creates the log groups.
func newLogGroups(ctx *pulumi.Context, c Config) (*LogGroups, error) {
	tasks, err := cloudwatch.NewLogGroup(ctx, "asap", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/ecs/" + resourceName(c, "")),
		RetentionInDays: pulumi.Int(c.LogRetentionDays),
		Tags:            tags(c, "logs"),
	}, fixedName)
	if err != nil {
		return nil, err
	}
	metrics, err := cloudwatch.NewLogGroup(ctx, "metrics", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/ecs/" + resourceName(c, "") + "/metrics"),
		RetentionInDays: pulumi.Int(metricsLogRetentionDays),
		Tags:            tags(c, "metrics"),
	}, fixedName)
	if err != nil {
		return nil, err
	}
	return &LogGroups{Tasks: tasks, Metrics: metrics}, nil
}

// serviceTimeouts bound the provider's wait for steady state. The slowest first
// deploy: instances boot and join (about 3 min), managed scaling adds the rest in
// steps of instanceWarmup, the image is pulled, every task passes the grace period and
// two health checks, and a failing release needs the circuit breaker's retries before
// it rolls back (about 10 min). An update at maxTasks waits for scale-out and then
// drains every old task (deregistration delay + stop timeout).
var serviceTimeouts = &pulumi.CustomTimeouts{Create: "40m", Update: "40m", Delete: "20m"}

// newService creates the task definition, the ECS service behind the target group and
// its autoscaling on CPU and on requests per target.
func newService(ctx *pulumi.Context, c Config, nw *Network, image, redisURL pulumi.StringOutput, secrets []taskSecret, logs *LogGroups,
	roles *Roles, cl *Cluster, balancer *LoadBalancer, rollback []*cloudwatch.MetricAlarm) (*Service, error) {
	values := pulumi.StringArray{image, redisURL, logs.Tasks.Name, logs.Metrics.Name}
	for _, s := range secrets {
		values = append(values, s.Arn)
	}
	defs := values.ToStringArrayOutput().
		ApplyT(func(v []string) (string, error) {
			return containerDefinitions(c, taskInputs{Image: v[0], RedisURL: v[1], LogGroup: v[2], MetricsLogGroup: v[3],
				TrustedProxies: nw.PublicCidrs, Secrets: secretRefs(secrets, v[4:])})
		}).(pulumi.StringOutput)
	task, err := ecs.NewTaskDefinition(ctx, "asap", &ecs.TaskDefinitionArgs{
		Family: pulumi.String(resourceName(c, "")),
		// Bridge: dynamic host ports behind the target group, and container links
		// between ASAP and its sidecars.
		NetworkMode:             pulumi.String("bridge"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("EC2")},
		Cpu:                     pulumi.String(strconv.Itoa(c.Tasks.Cpu)),
		Memory:                  pulumi.String(strconv.Itoa(taskMemoryMiB(c))),
		ExecutionRoleArn:        roles.Execution.Arn,
		TaskRoleArn:             roles.Task.Arn,
		ContainerDefinitions:    defs,
		Tags:                    tags(c, "task"),
	})
	if err != nil {
		return nil, err
	}

	// The service waits for the capacity provider, the listeners (a target group
	// joins the load balancer through one) and the alarms it names.
	deps := []pulumi.Resource{cl.Capacity}
	for _, l := range balancer.Listeners {
		deps = append(deps, l)
	}
	alarmNames := pulumi.StringArray{}
	for _, a := range rollback {
		deps = append(deps, a)
		alarmNames = append(alarmNames, a.Name)
	}
	svc, err := ecs.NewService(ctx, "asap", &ecs.ServiceArgs{
		Name:           pulumi.String(containerName),
		Cluster:        cl.Cluster.Arn,
		TaskDefinition: task.Arn,
		DesiredCount:   pulumi.Int(c.Tasks.DesiredTasks),
		CapacityProviderStrategies: ecs.ServiceCapacityProviderStrategyArray{ecs.ServiceCapacityProviderStrategyArgs{
			CapacityProvider: cl.CapacityProvider.Name,
			Weight:           pulumi.Int(1),
		}},
		LoadBalancers: ecs.ServiceLoadBalancerArray{ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: balancer.TargetGroup.Arn,
			ContainerName:  pulumi.String(containerName),
			ContainerPort:  pulumi.Int(containerPort),
		}},
		DeploymentController:            &ecs.ServiceDeploymentControllerArgs{Type: pulumi.String("ECS")},
		DeploymentMinimumHealthyPercent: pulumi.Int(c.Tasks.MinimumHealthyPercent),
		DeploymentMaximumPercent:        pulumi.Int(c.Tasks.MaximumPercent),
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable:   pulumi.Bool(true),
			Rollback: pulumi.Bool(true),
		},
		// A release that passes health checks but fails real traffic (5xx, latency)
		// rolls back too.
		Alarms: &ecs.ServiceAlarmsArgs{
			AlarmNames: alarmNames,
			Enable:     pulumi.Bool(true),
			Rollback:   pulumi.Bool(true),
		},
		HealthCheckGracePeriodSeconds: pulumi.Int(c.Tasks.HealthCheckGracePeriod),
		// ECS Exec: `make admin` reaches a task's admin port through a Session
		// Manager port forward into the task, the port staying off every network.
		EnableExecuteCommand: pulumi.Bool(true),
		OrderedPlacementStrategies: ecs.ServiceOrderedPlacementStrategyArray{
			ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("attribute:ecs.availability-zone")},
			ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("instanceId")},
		},
		WaitForSteadyState:   pulumi.Bool(true),
		EnableEcsManagedTags: pulumi.Bool(true),
		PropagateTags:        pulumi.String("SERVICE"),
		Tags:                 tags(c, "service"),
	}, pulumi.DependsOn(deps), fixedName, pulumi.Timeouts(serviceTimeouts),
		// Service autoscaling owns the task count once the service exists.
		pulumi.IgnoreChanges([]string{"desiredCount"}))
	if err != nil {
		return nil, err
	}

	target, err := appautoscaling.NewTarget(ctx, "asap", &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		ResourceId:        pulumi.Sprintf("service/%s/%s", cl.Cluster.Name, svc.Name),
		MinCapacity:       pulumi.Int(c.Tasks.MinTasks),
		MaxCapacity:       pulumi.Int(c.Tasks.MaxTasks),
	})
	if err != nil {
		return nil, err
	}
	policies := []struct {
		name   string
		metric string
		label  pulumi.StringPtrInput
		value  int
	}{
		{"cpu", "ECSServiceAverageCPUUtilization", nil, c.Tasks.CpuTargetPercent},
		{"requests", "ALBRequestCountPerTarget",
			pulumi.Sprintf("%s/%s", balancer.LoadBalancer.ArnSuffix, balancer.TargetGroup.ArnSuffix), c.Tasks.RequestsPerTarget},
	}
	for _, p := range policies {
		if _, err := appautoscaling.NewPolicy(ctx, p.name, &appautoscaling.PolicyArgs{
			PolicyType:        pulumi.String("TargetTrackingScaling"),
			ServiceNamespace:  target.ServiceNamespace,
			ScalableDimension: target.ScalableDimension,
			ResourceId:        target.ResourceId,
			TargetTrackingScalingPolicyConfiguration: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
				TargetValue: pulumi.Float64(float64(p.value)),
				PredefinedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
					PredefinedMetricType: pulumi.String(p.metric),
					ResourceLabel:        p.label,
				},
				ScaleOutCooldown: pulumi.Int(60),
				ScaleInCooldown:  pulumi.Int(300),
			},
		}); err != nil {
			return nil, err
		}
	}
	return &Service{TaskDefinition: task, Service: svc}, nil
}
