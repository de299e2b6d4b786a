package main

import (
	"fmt"
	"net"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// zones is how many availability zones a created VPC spans.
const zones = 2

// Network is where the stack's resources live.
type Network struct {
	VpcID            pulumi.StringInput
	PublicSubnetIDs  pulumi.StringArray
	PrivateSubnetIDs pulumi.StringArray
	// PublicCidrs are the address ranges of the load balancer's subnets: the only
	// sources whose X-Forwarded-For ASAP believes (ASAP_TRUSTED_PROXIES).
	PublicCidrs []string
	// Routed are the resources that give the private subnets their way out (NAT,
	// route table associations); instances started before them cannot reach ECS.
	Routed []pulumi.Resource
}

// newNetwork returns the VPC and subnets named in config, or creates a VPC with a public
// and a private subnet in each of two availability zones, an internet gateway and NAT.
func newNetwork(ctx *pulumi.Context, c Config) (*Network, error) {
	n := c.Network
	if !n.Created() {
		nw := &Network{
			VpcID:            pulumi.String(n.VpcID),
			PublicSubnetIDs:  pulumi.ToStringArray(n.PublicSubnetIDs),
			PrivateSubnetIDs: pulumi.ToStringArray(n.PrivateSubnetIDs),
		}
		for _, id := range n.PublicSubnetIDs {
			subnet, err := ec2.LookupSubnet(ctx, &ec2.LookupSubnetArgs{Id: pulumi.StringRef(id)})
			if err != nil {
				return nil, fmt.Errorf("%s: look up %s: %w", fullKey("publicSubnetIds"), id, err)
			}
			if subnet.VpcId != n.VpcID {
				return nil, fmt.Errorf("%s: %s is in %s, not in asap:vpcId %s", fullKey("publicSubnetIds"), id, subnet.VpcId, n.VpcID)
			}
			nw.PublicCidrs = append(nw.PublicCidrs, subnet.CidrBlock)
		}
		return nw, nil
	}

	// Only the region's own zones: Local and Wavelength Zones are opted into and lack
	// NAT gateways, ElastiCache and most instance types.
	azs, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		Filters: []aws.GetAvailabilityZonesFilter{{
			Name:   "opt-in-status",
			Values: []string{"opt-in-not-required"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("list availability zones: %w", err)
	}
	names, err := zonesOffering(ctx, c, azs.Names)
	if err != nil {
		return nil, err
	}
	subnets, err := subnetCidrs(n.VpcCidr, 2*zones)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fullKey("vpcCidr"), err)
	}

	vpc, err := ec2.NewVpc(ctx, "vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(n.VpcCidr),
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               tags(c, "vpc"),
	})
	if err != nil {
		return nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, "igw", &ec2.InternetGatewayArgs{
		VpcId: vpc.ID(),
		Tags:  tags(c, "igw"),
	})
	if err != nil {
		return nil, err
	}
	publicRoutes, err := ec2.NewRouteTable(ctx, "public-routes", &ec2.RouteTableArgs{
		VpcId: vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
		Tags: tags(c, "public"),
	})
	if err != nil {
		return nil, err
	}

	nw := &Network{VpcID: vpc.ID()}
	var nats []*ec2.NatGateway
	for i := range zones {
		az := names[i]
		public, err := ec2.NewSubnet(ctx, fmt.Sprintf("public-%d", i), &ec2.SubnetArgs{
			VpcId:               vpc.ID(),
			AvailabilityZone:    pulumi.String(az),
			CidrBlock:           pulumi.String(subnets[i]),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(c, "public-"+az),
		})
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("public-%d", i), &ec2.RouteTableAssociationArgs{
			SubnetId:     public.ID(),
			RouteTableId: publicRoutes.ID(),
		}); err != nil {
			return nil, err
		}
		nw.PublicSubnetIDs = append(nw.PublicSubnetIDs, public.ID())
		nw.PublicCidrs = append(nw.PublicCidrs, subnets[i])

		if i < n.NatGateways {
			eip, err := ec2.NewEip(ctx, fmt.Sprintf("nat-%d", i), &ec2.EipArgs{
				Domain: pulumi.String("vpc"),
				Tags:   tags(c, "nat-"+az),
			})
			if err != nil {
				return nil, err
			}
			nat, err := ec2.NewNatGateway(ctx, fmt.Sprintf("nat-%d", i), &ec2.NatGatewayArgs{
				AllocationId: eip.ID(),
				SubnetId:     public.ID(),
				Tags:         tags(c, "nat-"+az),
			}, pulumi.DependsOn([]pulumi.Resource{igw}))
			if err != nil {
				return nil, err
			}
			nats = append(nats, nat)
			nw.Routed = append(nw.Routed, nat)
		}
	}
	for i := range zones {
		az := names[i]
		// With one NAT gateway both zones share it; with two each zone uses its own, so
		// losing a zone does not cut the other off from ECR, ECS and the upstreams.
		nat := nats[i%len(nats)]
		private, err := ec2.NewSubnet(ctx, fmt.Sprintf("private-%d", i), &ec2.SubnetArgs{
			VpcId:            vpc.ID(),
			AvailabilityZone: pulumi.String(az),
			CidrBlock:        pulumi.String(subnets[zones+i]),
			Tags:             tags(c, "private-"+az),
		})
		if err != nil {
			return nil, err
		}
		routes, err := ec2.NewRouteTable(ctx, fmt.Sprintf("private-routes-%d", i), &ec2.RouteTableArgs{
			VpcId: vpc.ID(),
			Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
				CidrBlock:    pulumi.String("0.0.0.0/0"),
				NatGatewayId: nat.ID(),
			}},
			Tags: tags(c, "private-"+az),
		})
		if err != nil {
			return nil, err
		}
		assoc, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("private-%d", i), &ec2.RouteTableAssociationArgs{
			SubnetId:     private.ID(),
			RouteTableId: routes.ID(),
		})
		if err != nil {
			return nil, err
		}
		nw.Routed = append(nw.Routed, assoc)
		nw.PrivateSubnetIDs = append(nw.PrivateSubnetIDs, private.ID())
	}
	return nw, nil
}

// zonesOffering keeps the zones, in the region's order, where EC2 offers the stack's
// instance type (not every type is in every zone: an autoscaling group with a subnet
// in a zone without it fails its launches there). ElastiCache has no API that lists
// node types per zone; the replication group follows the private subnets and AWS
// reports a node type missing in a zone when the group is created.
func zonesOffering(ctx *pulumi.Context, c Config, available []string) ([]string, error) {
	offers, err := ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
		LocationType: pulumi.StringRef("availability-zone"),
		Filters: []ec2.GetInstanceTypeOfferingsFilter{{
			Name:   "instance-type",
			Values: []string{c.Hosts.InstanceType},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: list the zones that offer it: %w", fullKey("instanceType"), c.Hosts.InstanceType, err)
	}
	var out []string
	for _, z := range available {
		if slices.Contains(offers.Locations, z) {
			out = append(out, z)
		}
	}
	if len(out) < zones {
		return nil, fmt.Errorf("%s %s: offered in %d of region %s's availability zones (%v), need %d",
			fullKey("instanceType"), c.Hosts.InstanceType, len(out), c.Region, out, zones)
	}
	return out[:zones], nil
}

// subnetCidrs splits an IPv4 range of /20 or larger into count equal subnets, 4 bits
// longer than the range (a /16 gives /20s), so room is left for more subnets later and
// each subnet keeps enough addresses for the load balancer's nodes.
func subnetCidrs(cidr string, count int) ([]string, error) {
	_, base, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ones, bits := base.Mask.Size()
	v4 := base.IP.To4()
	if v4 == nil || bits != 32 || ones > 20 {
		return nil, fmt.Errorf("%s: want an IPv4 range of /20 or larger", cidr)
	}
	newOnes := ones + 4
	size := uint32(1) << (32 - newOnes)
	start := uint32(v4[0])<<24 | uint32(v4[1])<<16 | uint32(v4[2])<<8 | uint32(v4[3])
	out := make([]string, count)
	for i := range count {
		ip := start + uint32(i)*size
		out[i] = fmt.Sprintf("%d.%d.%d.%d/%d", byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip), newOnes)
	}
	return out, nil
}
