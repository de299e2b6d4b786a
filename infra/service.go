package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// containerName is the one container of the task; the service's load balancer
// attachment names it.
const containerName = "asap"

// Container health check: the binary's own `healthcheck` subcommand asks the local
// /healthz (the image has no shell or curl).
var healthCheckCommand = []string{"CMD", "/asap", "healthcheck"}

const (
	healthCheckInterval    = 10
	healthCheckTimeout     = 3
	healthCheckRetries     = 3
	healthCheckStartPeriod = 15
	// memoryLimitPercent of the task memory becomes GOMEMLIMIT, leaving room for the
	// runtime's non-heap memory below the hard limit.
	memoryLimitPercent = 90
	// openFiles is the nofile limit: every client and upstream connection is a file.
	openFiles = 65536
)

// containerDefinition is the subset of the ECS ContainerDefinition the task uses, with the
// API's JSON names (tests decode it into aws-sdk-go-v2's ecs/types.ContainerDefinition).
type containerDefinition struct {
	Name                   string           `json:"name"`
	Image                  string           `json:"image"`
	Essential              bool             `json:"essential"`
	PortMappings           []portMapping    `json:"portMappings"`
	Environment            []keyValuePair   `json:"environment"`
	LogConfiguration       logConfiguration `json:"logConfiguration"`
	HealthCheck            healthCheck      `json:"healthCheck"`
	StopTimeout            int              `json:"stopTimeout"`
	ReadonlyRootFilesystem bool             `json:"readonlyRootFilesystem"`
	Ulimits                []ulimit         `json:"ulimits"`
}

type portMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
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

// containerDefinitions is the task's container list as the JSON ECS takes.
func containerDefinitions(c Config, image, redisURL, logGroup string) (string, error) {
	defs := []containerDefinition{{
		Name:      containerName,
		Image:     image,
		Essential: true,
		// Host port 0: ECS picks a free host port per task, so several tasks share an
		// instance and a deployment can start new tasks beside the old ones.
		PortMappings: []portMapping{{ContainerPort: containerPort, HostPort: 0, Protocol: "tcp"}},
		Environment: []keyValuePair{
			{Name: "ASAP_ENV", Value: c.Stack},
			{Name: "ASAP_REDIS_URL", Value: redisURL},
			{Name: "ASAP_REDIS_KEY_PREFIX", Value: c.RedisKeyPrefix},
			{Name: "ASAP_UPSTREAMS", Value: c.Upstreams},
			{Name: "GOMEMLIMIT", Value: fmt.Sprintf("%dMiB", c.Tasks.Memory*memoryLimitPercent/100)},
		},
		LogConfiguration: logConfiguration{
			LogDriver: "awslogs",
			Options: map[string]string{
				"awslogs-group":         logGroup,
				"awslogs-region":        c.Region,
				"awslogs-stream-prefix": containerName,
				// A slow CloudWatch must never stall the ad path: drop logs instead.
				"mode":            "non-blocking",
				"max-buffer-size": "4m",
			},
		},
		HealthCheck: healthCheck{
			Command:     healthCheckCommand,
			Interval:    healthCheckInterval,
			Timeout:     healthCheckTimeout,
			Retries:     healthCheckRetries,
			StartPeriod: healthCheckStartPeriod,
		},
		StopTimeout:            c.Tasks.StopTimeout,
		ReadonlyRootFilesystem: true,
		Ulimits:                []ulimit{{Name: "nofile", SoftLimit: openFiles, HardLimit: openFiles}},
	}}
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

// newLogGroup creates the task log group.
func newLogGroup(ctx *pulumi.Context, c Config) (*cloudwatch.LogGroup, error) {
	return cloudwatch.NewLogGroup(ctx, "asap", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String("/ecs/" + resourceName(c, "")),
		RetentionInDays: pulumi.Int(c.LogRetentionDays),
		Tags:            tags(c, "logs"),
	})
}

// newService creates the task definition, the ECS service behind the target group and
// its autoscaling on CPU and on requests per target.
func newService(ctx *pulumi.Context, c Config, image, redisURL pulumi.StringOutput, logGroup *cloudwatch.LogGroup,
	roles *Roles, cl *Cluster, balancer *LoadBalancer) (*Service, error) {
	defs := pulumi.StringArray{image, redisURL, logGroup.Name}.ToStringArrayOutput().
		ApplyT(func(v []string) (string, error) { return containerDefinitions(c, v[0], v[1], v[2]) }).(pulumi.StringOutput)
	task, err := ecs.NewTaskDefinition(ctx, "asap", &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(resourceName(c, "")),
		NetworkMode:             pulumi.String("bridge"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("EC2")},
		Cpu:                     pulumi.String(strconv.Itoa(c.Tasks.Cpu)),
		Memory:                  pulumi.String(strconv.Itoa(c.Tasks.Memory)),
		ExecutionRoleArn:        roles.Execution.Arn,
		TaskRoleArn:             roles.Task.Arn,
		ContainerDefinitions:    defs,
		Tags:                    tags(c, "task"),
	})
	if err != nil {
		return nil, err
	}

	deps := []pulumi.Resource{cl.Capacity}
	for _, l := range balancer.Listeners {
		deps = append(deps, l)
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
		HealthCheckGracePeriodSeconds: pulumi.Int(c.Tasks.HealthCheckGracePeriod),
		OrderedPlacementStrategies: ecs.ServiceOrderedPlacementStrategyArray{
			ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("attribute:ecs.availability-zone")},
			ecs.ServiceOrderedPlacementStrategyArgs{Type: pulumi.String("spread"), Field: pulumi.String("instanceId")},
		},
		WaitForSteadyState:   pulumi.Bool(true),
		EnableEcsManagedTags: pulumi.Bool(true),
		PropagateTags:        pulumi.String("SERVICE"),
		Tags:                 tags(c, "service"),
	}, pulumi.DependsOn(deps),
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
