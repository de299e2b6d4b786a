package main

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// amiParameter is the SSM parameter holding the current ECS-optimized Amazon Linux 2023
// AMI id as a plain string (its parent parameter holds a JSON document).
const amiParameter = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"

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
func newCluster(ctx *pulumi.Context, c Config, nw *Network, sg *SecurityGroups, roles *Roles) (*Cluster, error) {
	name := resourceName(c, "")
	cluster, err := ecs.NewCluster(ctx, "cluster", &ecs.ClusterArgs{
		Name: pulumi.String(name),
		Settings: ecs.ClusterSettingArray{ecs.ClusterSettingArgs{
			Name:  pulumi.String("containerInsights"),
			Value: pulumi.String("enabled"),
		}},
		Tags: tags(c, "cluster"),
	})
	if err != nil {
		return nil, err
	}

	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: amiParameter})
	if err != nil {
		return nil, fmt.Errorf("look up the ECS-optimized AMI (%s): %w", amiParameter, err)
	}
	var keyName pulumi.StringPtrInput
	if c.Hosts.SSHKeyName != "" {
		keyName = pulumi.String(c.Hosts.SSHKeyName)
	}
	template, err := ec2.NewLaunchTemplate(ctx, "instances", &ec2.LaunchTemplateArgs{
		Description:  pulumi.String("ASAP ECS container instances (" + c.Stack + ")"),
		ImageId:      pulumi.String(ami.Value),
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
	})
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
		Tags: autoscaling.GroupTagArray{
			autoscaling.GroupTagArgs{Key: pulumi.String("AmazonECSManaged"), Value: pulumi.String(""), PropagateAtLaunch: pulumi.Bool(true)},
			autoscaling.GroupTagArgs{Key: pulumi.String("Name"), Value: pulumi.String(resourceName(c, "instance")), PropagateAtLaunch: pulumi.Bool(true)},
		},
	}, pulumi.IgnoreChanges([]string{"desiredCapacity"})) // managed scaling owns it after creation
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
				InstanceWarmupPeriod:   pulumi.Int(120),
			},
		},
		Tags: tags(c, "capacity"),
	})
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
	})
	if err != nil {
		return nil, err
	}
	return &Cluster{Cluster: cluster, CapacityProvider: provider, Capacity: capacity}, nil
}

// userData joins an instance to the cluster.
func userData(cluster string) string {
	return strings.Join([]string{
		"#!/bin/bash",
		"cat >> /etc/ecs/ecs.config <<'EOF'",
		"ECS_CLUSTER=" + cluster,
		"ECS_ENABLE_TASK_IAM_ROLE=true",
		"ECS_ENABLE_CONTAINER_METADATA=true",
		// Tags are immutable in the repository: a pulled image never changes.
		"ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
		"EOF",
		"",
	}, "\n")
}
