package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Ports and paths of the ASAP container that the infrastructure must agree with.
const (
	// containerPort is ASAP_HTTP_ADDR: the public API, /healthz and /readyz.
	containerPort = 8080
	// adminPort is ASAP_ADMIN_ADDR (/metrics). It has no port mapping: only the
	// metrics sidecar reaches it, over the task's bridge network.
	adminPort = 9090
	// readinessPath answers 503 from the moment the task starts draining.
	readinessPath = "/readyz"
	// hostPortFrom and hostPortTo are the range ECS picks dynamic host ports from on the
	// ECS-optimized AMI (host port 0 in the task definition).
	hostPortFrom = 32768
	hostPortTo   = 65535
	// redisPort is the port of a created or existing Redis.
	redisPort = 6379
	// sshPort is reachable only from Hosts.SSHCidrs, and only with a key pair.
	sshPort = 22
)

// SecurityGroups are the groups of the design: the load balancer's, the instances', and
// the asap group that Redis lets in.
type SecurityGroups struct {
	LoadBalancer *ec2.SecurityGroup
	Instances    *ec2.SecurityGroup
	// Asap marks the instances running ASAP; a Redis group allows it on 6379.
	Asap *ec2.SecurityGroup
}

// newSecurityGroups creates the groups and their rules. The load balancer is the only
// group open to the internet, and only on its listener ports.
func newSecurityGroups(ctx *pulumi.Context, c Config, nw *Network, listenerPorts []int) (*SecurityGroups, error) {
	group := func(name, description string) (*ec2.SecurityGroup, error) {
		return ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
			VpcId:       nw.VpcID,
			Description: pulumi.String(description),
			Tags:        tags(c, name),
		})
	}
	lb, err := group("lb", "ASAP load balancer: HTTP(S) from the internet")
	if err != nil {
		return nil, err
	}
	instances, err := group("instances", "ASAP ECS instances: dynamic task ports from the load balancer")
	if err != nil {
		return nil, err
	}
	asap, err := group("asap", "Instances running ASAP; Redis allows this group on 6379")
	if err != nil {
		return nil, err
	}

	rule := func(name string, args *ec2.SecurityGroupRuleArgs) error {
		args.Description = pulumi.String(name)
		_, err := ec2.NewSecurityGroupRule(ctx, name, args)
		return err
	}
	for _, port := range listenerPorts {
		if err := rule(fmt.Sprintf("lb-in-%d", port), &ec2.SecurityGroupRuleArgs{
			Type:            pulumi.String("ingress"),
			SecurityGroupId: lb.ID(),
			Protocol:        pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
			CidrBlocks:      pulumi.StringArray{pulumi.String("0.0.0.0/0")},
		}); err != nil {
			return nil, err
		}
	}
	if err := rule("lb-out-tasks", &ec2.SecurityGroupRuleArgs{
		Type:                  pulumi.String("egress"),
		SecurityGroupId:       lb.ID(),
		Protocol:              pulumi.String("tcp"),
		FromPort:              pulumi.Int(hostPortFrom),
		ToPort:                pulumi.Int(hostPortTo),
		SourceSecurityGroupId: instances.ID(),
	}); err != nil {
		return nil, err
	}
	if err := rule("instances-in-lb", &ec2.SecurityGroupRuleArgs{
		Type:                  pulumi.String("ingress"),
		SecurityGroupId:       instances.ID(),
		Protocol:              pulumi.String("tcp"),
		FromPort:              pulumi.Int(hostPortFrom),
		ToPort:                pulumi.Int(hostPortTo),
		SourceSecurityGroupId: lb.ID(),
	}); err != nil {
		return nil, err
	}
	// A port-22 rule only serves instances that accept a key (configure rejects
	// ranges without one); otherwise shell access is Session Manager.
	if c.Hosts.SSHKeyName != "" && len(c.Hosts.SSHCidrs) > 0 {
		if err := rule("instances-in-ssh", &ec2.SecurityGroupRuleArgs{
			Type:            pulumi.String("ingress"),
			SecurityGroupId: instances.ID(),
			Protocol:        pulumi.String("tcp"),
			FromPort:        pulumi.Int(sshPort),
			ToPort:          pulumi.Int(sshPort),
			CidrBlocks:      pulumi.ToStringArray(c.Hosts.SSHCidrs),
		}); err != nil {
			return nil, err
		}
	}
	// The instances pull images from ECR, talk to the ECS and CloudWatch endpoints and
	// call the upstream ad servers, all through the NAT gateway.
	if err := rule("instances-out", &ec2.SecurityGroupRuleArgs{
		Type:            pulumi.String("egress"),
		SecurityGroupId: instances.ID(),
		Protocol:        pulumi.String("-1"),
		FromPort:        pulumi.Int(0),
		ToPort:          pulumi.Int(0),
		CidrBlocks:      pulumi.StringArray{pulumi.String("0.0.0.0/0")},
	}); err != nil {
		return nil, err
	}
	return &SecurityGroups{LoadBalancer: lb, Instances: instances, Asap: asap}, nil
}

// allowRedis lets the asap group reach a Redis group on 6379.
func allowRedis(ctx *pulumi.Context, name string, redisGroupID pulumi.StringInput, sg *SecurityGroups) error {
	_, err := ec2.NewSecurityGroupRule(ctx, name, &ec2.SecurityGroupRuleArgs{
		Type:                  pulumi.String("ingress"),
		Description:           pulumi.String("ASAP instances to Redis"),
		SecurityGroupId:       redisGroupID,
		Protocol:              pulumi.String("tcp"),
		FromPort:              pulumi.Int(redisPort),
		ToPort:                pulumi.Int(redisPort),
		SourceSecurityGroupId: sg.Asap.ID(),
	})
	return err
}
