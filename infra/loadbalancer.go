package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Target-group health check of the service's readiness endpoint. A stopping task
// leaves rotation when ECS deregisters it, before SIGTERM, not through failed checks;
// the check finds tasks that stop answering on their own.
const (
	healthInterval     = 5
	healthTimeout      = 3
	healthyThreshold   = 2
	unhealthyThreshold = 2
	httpPort           = 80
	httpsPort          = 443
	tlsPolicy          = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	readinessMatcher   = "200"
)

// LoadBalancer is the public entry of the stack.
type LoadBalancer struct {
	LoadBalancer *lb.LoadBalancer
	TargetGroup  *lb.TargetGroup
	Listeners    []*lb.Listener
	// URL is where clients reach ASAP: https://<domainName> with a certificate,
	// http://<domainName> with a hosted zone alone, otherwise http://<load balancer
	// DNS name>.
	URL pulumi.StringOutput
}

// listenerPorts are the ports the load balancer listens on, and so the only ports its
// security group opens: 80, and 443 when a certificate is configured.
func listenerPorts(c Config) []int {
	if c.Balancer.CertificateArn == "" {
		return []int{httpPort}
	}
	return []int{httpPort, httpsPort}
}

// newLoadBalancer creates the application load balancer in the public subnets, the
// target group of ASAP tasks (dynamic host ports, /readyz) and the listeners.
func newLoadBalancer(ctx *pulumi.Context, c Config, nw *Network, sg *SecurityGroups) (*LoadBalancer, error) {
	alb, err := lb.NewLoadBalancer(ctx, "lb", &lb.LoadBalancerArgs{
		Name:                    pulumi.String(resourceName(c, "")),
		LoadBalancerType:        pulumi.String("application"),
		Internal:                pulumi.Bool(false),
		SecurityGroups:          pulumi.StringArray{sg.LoadBalancer.ID()},
		Subnets:                 nw.PublicSubnetIDs,
		IdleTimeout:             pulumi.Int(c.Balancer.IdleTimeout),
		DropInvalidHeaderFields: pulumi.Bool(true),
		// Clients and DNS know its name: a replacement or deletion loses it.
		EnableDeletionProtection: pulumi.Bool(c.Protect.LoadBalancerDeletion),
		Tags:                     tags(c, "lb"),
	}, fixedName, protect(c))
	if err != nil {
		return nil, err
	}
	tg, err := lb.NewTargetGroup(ctx, "tasks", &lb.TargetGroupArgs{
		VpcId:      nw.VpcID,
		TargetType: pulumi.String("instance"),
		// ECS registers each task on its dynamic host port; this is the container port.
		Port:                pulumi.Int(containerPort),
		Protocol:            pulumi.String("HTTP"),
		DeregistrationDelay: pulumi.Int(c.Balancer.DeregistrationDelay),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Enabled:            pulumi.Bool(true),
			Protocol:           pulumi.String("HTTP"),
			Port:               pulumi.String("traffic-port"),
			Path:               pulumi.String(readinessPath),
			Matcher:            pulumi.String(readinessMatcher),
			Interval:           pulumi.Int(healthInterval),
			Timeout:            pulumi.Int(healthTimeout),
			HealthyThreshold:   pulumi.Int(healthyThreshold),
			UnhealthyThreshold: pulumi.Int(unhealthyThreshold),
		},
		Tags: tags(c, "tasks"),
	})
	if err != nil {
		return nil, err
	}
	forward := lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
		Type:           pulumi.String("forward"),
		TargetGroupArn: tg.Arn,
	}}

	out := &LoadBalancer{LoadBalancer: alb, TargetGroup: tg}
	host := alb.DnsName
	if b := c.Balancer; b.DomainName != "" && b.HostedZoneID != "" {
		record, err := route53.NewRecord(ctx, "dns", &route53.RecordArgs{
			ZoneId: pulumi.String(b.HostedZoneID),
			Name:   pulumi.String(b.DomainName),
			Type:   pulumi.String("A"),
			Aliases: route53.RecordAliasArray{route53.RecordAliasArgs{
				Name:                 alb.DnsName,
				ZoneId:               alb.ZoneId,
				EvaluateTargetHealth: pulumi.Bool(true),
			}},
		})
		if err != nil {
			return nil, err
		}
		host = record.Fqdn
	}
	if c.Balancer.CertificateArn == "" {
		http, err := lb.NewListener(ctx, "http", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn,
			Port:            pulumi.Int(httpPort),
			Protocol:        pulumi.String("HTTP"),
			DefaultActions:  forward,
			Tags:            tags(c, "http"),
		})
		if err != nil {
			return nil, err
		}
		out.Listeners = []*lb.Listener{http}
		out.URL = pulumi.Sprintf("http://%s", host)
		return out, nil
	}

	https, err := lb.NewListener(ctx, "https", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(httpsPort),
		Protocol:        pulumi.String("HTTPS"),
		SslPolicy:       pulumi.String(tlsPolicy),
		CertificateArn:  pulumi.String(c.Balancer.CertificateArn),
		DefaultActions:  forward,
		Tags:            tags(c, "https"),
	})
	if err != nil {
		return nil, err
	}
	http, err := lb.NewListener(ctx, "http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(httpPort),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol:   pulumi.String("HTTPS"),
				Port:       pulumi.String("443"),
				StatusCode: pulumi.String("HTTP_301"),
			},
		}},
		Tags: tags(c, "http"),
	})
	if err != nil {
		return nil, err
	}
	out.Listeners = []*lb.Listener{http, https}
	out.URL = pulumi.Sprintf("https://%s", c.Balancer.DomainName)
	return out, nil
}
