package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// program declares the stack and exports its outputs.
func program(ctx *pulumi.Context) error {
	outputs, err := deploy(ctx)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// deploy declares the whole stack: network, registry, IAM, security groups, Redis,
// cluster, load balancer, service and alarms. It returns the stack outputs that the
// delivery tooling reads with `pulumi stack output --json`: url, albDnsName,
// clusterName, serviceName, repositoryUrl, logGroupName, targetGroupArn,
// taskDefinitionArn and region.
func deploy(ctx *pulumi.Context) (map[string]pulumi.StringOutput, error) {
	c, err := configure(ctx)
	if err != nil {
		return nil, err
	}
	nw, err := newNetwork(ctx, c)
	if err != nil {
		return nil, err
	}
	repo, err := newRepository(ctx, c)
	if err != nil {
		return nil, err
	}
	logs, err := newLogGroup(ctx, c)
	if err != nil {
		return nil, err
	}
	roles, err := newRoles(ctx, c, repo.Arn, logs.Arn)
	if err != nil {
		return nil, err
	}
	sg, err := newSecurityGroups(ctx, c, nw, listenerPorts(c))
	if err != nil {
		return nil, err
	}
	redisURL, err := newRedis(ctx, c, nw, sg)
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, c, nw, sg, roles)
	if err != nil {
		return nil, err
	}
	balancer, err := newLoadBalancer(ctx, c, nw, sg)
	if err != nil {
		return nil, err
	}
	image := pulumi.Sprintf("%s:%s", repo.RepositoryUrl, c.ImageTag)
	svc, err := newService(ctx, c, image, redisURL, logs, roles, cl, balancer)
	if err != nil {
		return nil, err
	}
	if _, err := newAlarms(ctx, c, cl, svc, balancer); err != nil {
		return nil, err
	}

	return map[string]pulumi.StringOutput{
		"url":               balancer.URL,
		"albDnsName":        balancer.LoadBalancer.DnsName,
		"clusterName":       cl.Cluster.Name,
		"serviceName":       svc.Service.Name,
		"repositoryUrl":     repo.RepositoryUrl,
		"logGroupName":      logs.Name,
		"targetGroupArn":    balancer.TargetGroup.Arn,
		"taskDefinitionArn": svc.TaskDefinition.Arn,
		"region":            pulumi.String(c.Region).ToStringOutput(),
	}, nil
}

// resourceName is the AWS name of a stack resource: asap-<stack>[-<suffix>].
func resourceName(c Config, suffix string) string {
	if suffix == "" {
		return "asap-" + c.Stack
	}
	return "asap-" + c.Stack + "-" + suffix
}

// tags are the tags of every taggable resource.
func tags(c Config, name string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":    pulumi.String(resourceName(c, name)),
		"Project": pulumi.String("asap"),
		"Stack":   pulumi.String(c.Stack),
	}
}
