package main

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// amiParameters hold the current ECS-optimized Amazon Linux 2023 AMI id per
// architecture as a plain string (their parent parameters hold a JSON document).
var amiParameters = map[string]string{
	"x86_64": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
	"arm64":  "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
}

// platforms are the Docker platforms of the instance architectures.
var platforms = map[string]string{"x86_64": "linux/amd64", "arm64": "linux/arm64"}

// registeredMemoryPercent is the share of an instance's memory left to tasks after the
// OS, Docker and the ECS agent (what ECS registers is 5-10 % below the nominal size).
const registeredMemoryPercent = 90

// HostType is what the stack's instance type offers.
type HostType struct {
	// Arch is the architecture of the instance type (x86_64 or arm64, Graviton).
	Arch string
	// TasksPerInstance is how many tasks fit on one instance by CPU and memory.
	TasksPerInstance int
}

// Platform is the Docker platform an image must be built for to run on the hosts.
func (h HostType) Platform() string { return platforms[h.Arch] }

// lookupHostType reads the instance type's architecture and size, and refuses a
// stack whose largest fleet cannot hold a deployment at its largest task count: with
// maximumPercent 200 ECS starts every new task before it stops an old one, and tasks
// that find no room wait in PROVISIONING for capacity that never comes.
func lookupHostType(ctx *pulumi.Context, c Config) (HostType, error) {
	it, err := ec2.GetInstanceType(ctx, &ec2.GetInstanceTypeArgs{InstanceType: c.Hosts.InstanceType})
	if err != nil {
		return HostType{}, fmt.Errorf("%s %s: %w", fullKey("instanceType"), c.Hosts.InstanceType, err)
	}
	var h HostType
	for _, arch := range []string{"arm64", "x86_64"} {
		if slices.Contains(it.SupportedArchitectures, arch) {
			h.Arch = arch
			break
		}
	}
	if h.Arch == "" {
		return HostType{}, fmt.Errorf("%s %s: architectures %v, want x86_64 or arm64", fullKey("instanceType"), c.Hosts.InstanceType, it.SupportedArchitectures)
	}
	byCPU := it.DefaultVcpus * 1024 / c.Tasks.Cpu
	byMemory := it.MemorySize * registeredMemoryPercent / 100 / taskMemoryMiB(c)
	h.TasksPerInstance = min(byCPU, byMemory)
	if h.TasksPerInstance < 1 {
		return HostType{}, fmt.Errorf("%s %s (%d vCPU, %d MiB) cannot hold one task (%d CPU units, %d MiB)",
			fullKey("instanceType"), c.Hosts.InstanceType, it.DefaultVcpus, it.MemorySize, c.Tasks.Cpu, taskMemoryMiB(c))
	}
	_, peak := deploymentBounds(c.Tasks.MaxTasks, c.Tasks.MinimumHealthyPercent, c.Tasks.MaximumPercent)
	if need := (peak + h.TasksPerInstance - 1) / h.TasksPerInstance; c.Hosts.MaxInstances < need {
		return HostType{}, fmt.Errorf("%s %d: a deployment at maxTasks %d runs up to %d tasks, %d per %s, so it needs %d instances",
			fullKey("maxInstances"), c.Hosts.MaxInstances, c.Tasks.MaxTasks, peak, h.TasksPerInstance, c.Hosts.InstanceType, need)
	}
	return h, nil
}

// Cluster is the ECS cluster with its EC2 capacity.
type Cluster struct {
	Cluster          *ecs.Cluster
	CapacityProvider *ecs.CapacityProvider
	// Capacity is done once the capacity provider is attached to the cluster; the
	// service depends on it.
	Capacity *ecs.ClusterCapacityProviders
}

// newCluster creates the ECS cluster (Container Insights on) and its capacity: a launch
// template of the ECS-optimized AL2023 AMI, an autoscaling group in the private subnets,
// and a capacity provider with managed scaling and termination protection.
func newCluster(ctx *pulumi.Context, c Config, host HostType, nw *Network, sg *SecurityGroups, roles *Roles) (*Cluster, error) {
	name := resourceName(c, "")
	cluster, err := ecs.NewCluster(ctx, "cluster", &ecs.ClusterArgs{
		Name: pulumi.String(name),
		Settings: ecs.ClusterSettingArray{ecs.ClusterSettingArgs{
			Name:  pulumi.String("containerInsights"),
			Value: pulumi.String("enabled"),
		}},
		Tags: tags(c, "cluster"),
	}, fixedName)
	if err != nil {
		return nil, err
	}

	ami, err := amiID(ctx, c, host)
	if err != nil {
		return nil, err
	}
	// An instance must not boot before it can join: the cluster exists, its role may
	// call ECS (and SSM), and its subnet routes through NAT to the ECS endpoints.
	joinable := append([]pulumi.Resource{cluster}, roles.InstancePolicies...)
	joinable = append(joinable, nw.Routed...)
	var keyName pulumi.StringPtrInput
	if c.Hosts.SSHKeyName != "" {
		keyName = pulumi.String(c.Hosts.SSHKeyName)
	}
	template, err := ec2.NewLaunchTemplate(ctx, "instances", &ec2.LaunchTemplateArgs{
		Description:  pulumi.String("ASAP ECS container instances (" + c.Stack + ")"),
		ImageId:      pulumi.String(ami),
		InstanceType: pulumi.String(c.Hosts.InstanceType),
		KeyName:      keyName,
		IamInstanceProfile: &ec2.LaunchTemplateIamInstanceProfileArgs{
			Arn: roles.InstanceProfile.Arn,
		},
		VpcSecurityGroupIds: pulumi.StringArray{sg.Instances.ID(), sg.Asap.ID()},
		UserData:            pulumi.String(base64.StdEncoding.EncodeToString([]byte(userData(name)))),
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint: pulumi.String("enabled"),
			HttpTokens:   pulumi.String("required"),
			// One hop: the ECS agent on the host reaches IMDS, containers on the bridge
			// network do not (they get credentials from the task role endpoint).
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize:          pulumi.Int(c.Hosts.RootVolumeGiB),
				VolumeType:          pulumi.String("gp3"),
				Encrypted:           pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		Monitoring:           &ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(true)},
		UpdateDefaultVersion: pulumi.Bool(true),
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: tags(c, "instance")},
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: tags(c, "instance")},
		},
		Tags: tags(c, "instances"),
	}, pulumi.DependsOn(joinable))
	if err != nil {
		return nil, err
	}

	group, err := autoscaling.NewGroup(ctx, "instances", &autoscaling.GroupArgs{
		MinSize:            pulumi.Int(c.Hosts.MinInstances),
		MaxSize:            pulumi.Int(c.Hosts.MaxInstances),
		DesiredCapacity:    pulumi.Int(c.Hosts.DesiredInstances),
		VpcZoneIdentifiers: nw.PrivateSubnetIDs,
		LaunchTemplate: &autoscaling.GroupLaunchTemplateArgs{
			Id: template.ID(),
			Version: template.LatestVersion.ApplyT(func(v int) string {
				return strconv.Itoa(v)
			}).(pulumi.StringOutput),
		},
		// Managed termination protection: ECS decides which instances may go, so the
		// group must not scale in on its own.
		ProtectFromScaleIn: pulumi.Bool(true),
		HealthCheckType:    pulumi.String("EC2"),
		// A new launch template version (a new AMI above all) replaces the fleet a
		// few instances at a time; ECS managed draining moves their tasks first, and
		// protected instances are refreshed too (they all are, for the capacity
		// provider), or the refresh would skip every one of them.
		InstanceRefresh: &autoscaling.GroupInstanceRefreshArgs{
			Strategy: pulumi.String("Rolling"),
			Preferences: &autoscaling.GroupInstanceRefreshPreferencesArgs{
				MinHealthyPercentage:      pulumi.Int(instanceRefreshMinHealthy),
				MaxHealthyPercentage:      pulumi.Int(instanceRefreshMaxHealthy),
				InstanceWarmup:            pulumi.String(strconv.Itoa(instanceWarmup)),
				ScaleInProtectedInstances: pulumi.String("Refresh"),
				SkipMatching:              pulumi.Bool(true),
			},
		},
		Tags: autoscaling.GroupTagArray{
			autoscaling.GroupTagArgs{Key: pulumi.String("AmazonECSManaged"), Value: pulumi.String(""), PropagateAtLaunch: pulumi.Bool(true)},
			autoscaling.GroupTagArgs{Key: pulumi.String("Name"), Value: pulumi.String(resourceName(c, "instance")), PropagateAtLaunch: pulumi.Bool(true)},
		},
	}, pulumi.DependsOn(joinable),
		pulumi.IgnoreChanges([]string{"desiredCapacity"})) // managed scaling owns it after creation
	if err != nil {
		return nil, err
	}

	provider, err := ecs.NewCapacityProvider(ctx, "instances", &ecs.CapacityProviderArgs{
		Name: pulumi.String(name),
		AutoScalingGroupProvider: &ecs.CapacityProviderAutoScalingGroupProviderArgs{
			AutoScalingGroupArn:          group.Arn,
			ManagedTerminationProtection: pulumi.String("ENABLED"),
			ManagedDraining:              pulumi.String("ENABLED"),
			ManagedScaling: &ecs.CapacityProviderAutoScalingGroupProviderManagedScalingArgs{
				Status:                 pulumi.String("ENABLED"),
				TargetCapacity:         pulumi.Int(100),
				MinimumScalingStepSize: pulumi.Int(1),
				MaximumScalingStepSize: pulumi.Int(max(1, c.Hosts.MaxInstances/2)),
				InstanceWarmupPeriod:   pulumi.Int(instanceWarmup),
			},
		},
		Tags: tags(c, "capacity"),
	}, fixedName)
	if err != nil {
		return nil, err
	}
	capacity, err := ecs.NewClusterCapacityProviders(ctx, "cluster", &ecs.ClusterCapacityProvidersArgs{
		ClusterName:       cluster.Name,
		CapacityProviders: pulumi.StringArray{provider.Name},
		DefaultCapacityProviderStrategies: ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray{
			ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs{
				CapacityProvider: provider.Name,
				Weight:           pulumi.Int(1),
			},
		},
	}, fixedName) // one per cluster
	if err != nil {
		return nil, err
	}
	return &Cluster{Cluster: cluster, CapacityProvider: provider, Capacity: capacity}, nil
}

// Instance refresh: new instances warm up for instanceWarmup seconds; at least
// instanceRefreshMinHealthy % of the group stays in service, and the refresh may add up
// to instanceRefreshMaxHealthy % so the tasks of a replaced instance have somewhere to go.
const (
	instanceWarmup            = 120
	instanceRefreshMinHealthy = 100
	instanceRefreshMaxHealthy = 200
)

// amiID is the pinned asap:amiId, or the ECS-optimized AMI of the hosts' architecture.
func amiID(ctx *pulumi.Context, c Config, host HostType) (string, error) {
	if c.Hosts.AmiID != "" {
		return c.Hosts.AmiID, nil
	}
	name := amiParameters[host.Arch]
	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: name})
	if err != nil {
		return "", fmt.Errorf("look up the ECS-optimized AMI (%s): %w", name, err)
	}
	return ami.Value, nil
}

// userData joins an instance to the cluster.
func userData(cluster string) string {
	return strings.Join([]string{
		"#!/bin/bash",
		"cat >> /etc/ecs/ecs.config <<'EOF'",
		"ECS_CLUSTER=" + cluster,
		"ECS_ENABLE_TASK_IAM_ROLE=true",
		"ECS_ENABLE_CONTAINER_METADATA=true",
		// Tasks run images by digest: a pulled image never changes.
		"ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
		"EOF",
		"",
	}, "\n")
}
