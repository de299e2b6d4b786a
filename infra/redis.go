package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// redisEngineVersion is the ElastiCache Redis OSS version of a created replication group.
const redisEngineVersion = "7.1"

// newRedis returns ASAP_REDIS_URL: the configured URL of an existing Redis (whose security
// group, when named, gets a rule letting the asap group in), or the primary endpoint of
// an ElastiCache replication group created in the private subnets.
func newRedis(ctx *pulumi.Context, c Config, nw *Network, sg *SecurityGroups) (pulumi.StringOutput, error) {
	r := c.Redis
	if !r.Created() {
		if r.SecurityGroupID != "" {
			if err := allowRedis(ctx, "redis-in-asap", pulumi.String(r.SecurityGroupID), sg); err != nil {
				return pulumi.StringOutput{}, err
			}
		}
		return pulumi.String(r.URL).ToStringOutput(), nil
	}

	group, err := ec2.NewSecurityGroup(ctx, "redis", &ec2.SecurityGroupArgs{
		VpcId:       nw.VpcID,
		Description: pulumi.String("ASAP Redis: 6379 from the asap group only"),
		Tags:        tags(c, "redis"),
	})
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if err := allowRedis(ctx, "redis-in-asap", group.ID(), sg); err != nil {
		return pulumi.StringOutput{}, err
	}
	subnets, err := elasticache.NewSubnetGroup(ctx, "redis", &elasticache.SubnetGroupArgs{
		Description: pulumi.String("ASAP Redis in the private subnets"),
		SubnetIds:   nw.PrivateSubnetIDs,
		Tags:        tags(c, "redis"),
	})
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	replicated := r.Nodes > 1
	rg, err := elasticache.NewReplicationGroup(ctx, "redis", &elasticache.ReplicationGroupArgs{
		ReplicationGroupId:       pulumi.String(resourceName(c, "")),
		Description:              pulumi.String("ASAP placements (" + c.Stack + ")"),
		Engine:                   pulumi.String("redis"),
		EngineVersion:            pulumi.String(redisEngineVersion),
		NodeType:                 pulumi.String(r.NodeType),
		NumCacheClusters:         pulumi.Int(r.Nodes),
		AutomaticFailoverEnabled: pulumi.Bool(replicated),
		MultiAzEnabled:           pulumi.Bool(replicated),
		Port:                     pulumi.Int(redisPort),
		SubnetGroupName:          subnets.Name,
		SecurityGroupIds:         pulumi.StringArray{group.ID()},
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		TransitEncryptionEnabled: pulumi.Bool(r.TransitEncryption),
		Tags:                     tags(c, "redis"),
	}, fixedName)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	scheme := "redis"
	if r.TransitEncryption {
		scheme = "rediss"
	}
	return pulumi.Sprintf("%s://%s:%d/0", scheme, rg.PrimaryEndpointAddress, redisPort), nil
}
