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

// deploy declares the whole stack: network, registry and image, IAM, security groups,
// Redis, cluster, load balancer, alarms, service and dashboard. It returns the stack
// outputs that the delivery tooling reads with `pulumi stack output --json`: url,
// albDnsName, clusterName, serviceName, repositoryUrl, logGroupName, targetGroupArn,
// taskDefinitionArn, region, image (the reference by digest the task runs),
// smokePkey, deploymentAlarms (the alarms that roll a deployment back) and
// adminTokensSecret (the secret holding ASAP_ADMIN_TOKENS, which `make admin` names).
func deploy(ctx *pulumi.Context) (map[string]pulumi.Output, error) {
	c, err := configure(ctx)
	if err != nil {
		return nil, err
	}
	host, err := lookupHostType(ctx, c)
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
	image, err := newImage(ctx, c, repo, host.Platform())
	if err != nil {
		return nil, err
	}
	logs, err := newLogGroups(ctx, c)
	if err != nil {
		return nil, err
	}
	// The environment variables ECS fills from Secrets Manager (taskSecret): one
	// list feeds the container definition and the execution role's policy.
	redisAuth, secrets, err := newRedisAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	adminTokens, err := newAdminTokens(ctx, c)
	if err != nil {
		return nil, err
	}
	secrets = append(secrets, adminTokens)
	roles, err := newRoles(ctx, c, image.PullRepositoryArn, logs, secrets)
	if err != nil {
		return nil, err
	}
	sg, err := newSecurityGroups(ctx, c, nw, listenerPorts(c))
	if err != nil {
		return nil, err
	}
	redisURL, err := newRedis(ctx, c, nw, sg, redisAuth)
	if err != nil {
		return nil, err
	}
	cl, err := newCluster(ctx, c, host, nw, sg, roles)
	if err != nil {
		return nil, err
	}
	balancer, err := newLoadBalancer(ctx, c, nw, sg)
	if err != nil {
		return nil, err
	}
	topic, err := newAlarmTopic(ctx, c)
	if err != nil {
		return nil, err
	}
	rollback, err := newDeploymentAlarms(ctx, c, topic, balancer)
	if err != nil {
		return nil, err
	}
	svc, err := newService(ctx, c, nw, image.Ref, redisURL, secrets, logs, roles, cl, balancer, rollback)
	if err != nil {
		return nil, err
	}
	if err := newServiceAlarms(ctx, c, topic, cl, svc, balancer); err != nil {
		return nil, err
	}

	alarmNames := pulumi.StringArray{}
	for _, a := range rollback {
		alarmNames = append(alarmNames, a.Name)
	}
	return map[string]pulumi.Output{
		"url":               balancer.URL,
		"albDnsName":        balancer.LoadBalancer.DnsName,
		"clusterName":       cl.Cluster.Name,
		"serviceName":       svc.Service.Name,
		"repositoryUrl":     repo.RepositoryUrl,
		"logGroupName":      logs.Tasks.Name,
		"targetGroupArn":    balancer.TargetGroup.Arn,
		"taskDefinitionArn": svc.TaskDefinition.Arn,
		"region":            pulumi.String(c.Region).ToStringOutput(),
		"image":             image.Ref,
		"smokePkey":         pulumi.String(c.SmokePkey).ToStringOutput(),
		"deploymentAlarms":  alarmNames.ToStringArrayOutput(),
		"adminTokensSecret": adminTokens.Arn,
	}, nil
}

// fixedName marks a resource whose AWS name the program sets: a replacing change must
// delete the old one first, or the new one fails on the taken name.
var fixedName = pulumi.DeleteBeforeReplace(true)

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
