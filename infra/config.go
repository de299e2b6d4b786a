package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Config is every stack setting the program reads, loaded once by configure from the
// `asap:` namespace of Pulumi.<stack>.yaml (and the defaults declared in Pulumi.yaml).
type Config struct {
	// Stack is the Pulumi stack name (staging, production); it is also ASAP_ENV.
	Stack string
	// Region is the AWS region of the stack (aws:region).
	Region string

	// ImageTag is the tag of the ASAP image in the stack's ECR repository.
	ImageTag string
	// Upstreams is ASAP_UPSTREAMS: name=url pairs separated by commas.
	Upstreams string
	// RedisKeyPrefix is ASAP_REDIS_KEY_PREFIX.
	RedisKeyPrefix string

	Network  NetworkConfig
	Hosts    HostsConfig
	Tasks    TasksConfig
	Balancer BalancerConfig
	Redis    RedisConfig
	Alarms   AlarmsConfig

	// LogRetentionDays is the retention of the task log group.
	LogRetentionDays int
}

// NetworkConfig names an existing VPC and its subnets, or leaves VpcID empty so the
// program creates its own VPC with public and private subnets in two availability zones.
type NetworkConfig struct {
	// VpcID is an existing VPC; empty creates one.
	VpcID string
	// PublicSubnetIDs hold the load balancer; PrivateSubnetIDs the instances and Redis.
	// Both are required (two or more, in different zones) when VpcID is set.
	PublicSubnetIDs  []string
	PrivateSubnetIDs []string
	// VpcCidr is the address range of a created VPC.
	VpcCidr string
	// NatGateways is how many NAT gateways a created VPC gets (1 saves money, 2 survives
	// the loss of an availability zone).
	NatGateways int
}

// HostsConfig sizes the EC2 instances of the cluster's capacity provider.
type HostsConfig struct {
	InstanceType     string
	MinInstances     int
	MaxInstances     int
	DesiredInstances int
	// RootVolumeGiB is the size of each instance's encrypted gp3 root volume.
	RootVolumeGiB int
	// SSHCidrs are the internal ranges allowed to reach the instances on port 22; empty
	// allows none (use SSM Session Manager). Never 0.0.0.0/0 or ::/0.
	SSHCidrs []string
	// SSHKeyName is an EC2 key pair for the instances; empty sets none.
	SSHKeyName string
}

// TasksConfig sizes the ECS service and its rolling deployment.
type TasksConfig struct {
	// Cpu is the task's CPU units (1024 = one vCPU); Memory its hard limit in MiB.
	Cpu    int
	Memory int
	// MinTasks and MaxTasks bound service autoscaling; DesiredTasks is the initial count.
	MinTasks     int
	MaxTasks     int
	DesiredTasks int
	// MinimumHealthyPercent and MaximumPercent bound a deployment (100/200 replaces
	// every task before stopping an old one; 0 lets staging stop them all first).
	MinimumHealthyPercent int
	MaximumPercent        int
	// HealthCheckGracePeriod (seconds) ignores failing load-balancer checks after a start.
	HealthCheckGracePeriod int
	// StopTimeout (seconds) is how long ECS waits after SIGTERM before SIGKILL; it must
	// exceed the service's drain period plus its shutdown timeout.
	StopTimeout int
	// CpuTargetPercent and RequestsPerTarget are the autoscaling targets.
	CpuTargetPercent  int
	RequestsPerTarget int
}

// BalancerConfig configures the application load balancer.
type BalancerConfig struct {
	// DeregistrationDelay (seconds) is how long the target group keeps draining a
	// deregistered task; shorter than Tasks.StopTimeout.
	DeregistrationDelay int
	// CertificateArn turns on the HTTPS listener (HTTP then redirects to it); empty
	// serves plain HTTP only.
	CertificateArn string
	// DomainName is the name the certificate covers and the stack's url; required with
	// CertificateArn.
	DomainName string
	// IdleTimeout (seconds) of client connections; below the service's idle timeout.
	IdleTimeout int
}

// RedisConfig either points at an existing Redis (URL set) or sizes an ElastiCache
// replication group the program creates.
type RedisConfig struct {
	// URL of an existing Redis (redis:// or rediss://, no password); empty creates one.
	URL string
	// SecurityGroupID of an existing Redis: the program lets the asap group in on 6379.
	SecurityGroupID string
	// NodeType and Nodes size a created replication group (Nodes > 1 adds replicas
	// with automatic failover across zones).
	NodeType string
	Nodes    int
	// TransitEncryption turns on TLS (rediss://) for a created replication group.
	TransitEncryption bool
}

// AlarmsConfig holds the CloudWatch alarm thresholds.
type AlarmsConfig struct {
	// Target5xxPerMinute alarms on 5xx answers from the tasks per minute.
	Target5xxPerMinute int
	// LatencyP99Ms alarms on the targets' p99 response time.
	LatencyP99Ms int
	// CpuPercent and MemoryPercent alarm on the service's average utilisation.
	CpuPercent    int
	MemoryPercent int
	// Email subscribes an address to the alarm topic; empty subscribes none.
	Email string
}

// Created reports whether the program creates its own Redis.
func (r RedisConfig) Created() bool { return r.URL == "" }

// Created reports whether the program creates its own VPC.
func (n NetworkConfig) Created() bool { return n.VpcID == "" }

// configure reads the stack's configuration once, reporting every missing or invalid key
// at once.
func configure(ctx *pulumi.Context) (Config, error) {
	r := reader{cfg: config.New(ctx, ""), ns: ctx.Project(), stack: ctx.Stack()}
	aws := reader{cfg: config.New(ctx, "aws"), ns: "aws", stack: ctx.Stack()}

	c := Config{
		Stack:          ctx.Stack(),
		Region:         aws.str("region"),
		ImageTag:       r.str("imageTag"),
		Upstreams:      r.str("upstreams"),
		RedisKeyPrefix: r.str("redisKeyPrefix"),
		Network: NetworkConfig{
			VpcID:            r.optStr("vpcId"),
			PublicSubnetIDs:  r.optList("publicSubnetIds"),
			PrivateSubnetIDs: r.optList("privateSubnetIds"),
			VpcCidr:          r.str("vpcCidr"),
			NatGateways:      r.int("natGateways"),
		},
		Hosts: HostsConfig{
			InstanceType:     r.str("instanceType"),
			MinInstances:     r.int("minInstances"),
			MaxInstances:     r.int("maxInstances"),
			DesiredInstances: r.int("desiredInstances"),
			RootVolumeGiB:    r.int("rootVolumeGiB"),
			SSHCidrs:         r.optList("sshCidrs"),
			SSHKeyName:       r.optStr("sshKeyName"),
		},
		Tasks: TasksConfig{
			Cpu:                    r.int("taskCpu"),
			Memory:                 r.int("taskMemory"),
			MinTasks:               r.int("minTasks"),
			MaxTasks:               r.int("maxTasks"),
			DesiredTasks:           r.int("desiredTasks"),
			MinimumHealthyPercent:  r.int("deploymentMinimumHealthyPercent"),
			MaximumPercent:         r.int("deploymentMaximumPercent"),
			HealthCheckGracePeriod: r.int("healthCheckGracePeriod"),
			StopTimeout:            r.int("stopTimeout"),
			CpuTargetPercent:       r.int("cpuTargetPercent"),
			RequestsPerTarget:      r.int("requestsPerTarget"),
		},
		Balancer: BalancerConfig{
			DeregistrationDelay: r.int("deregistrationDelay"),
			CertificateArn:      r.optStr("certificateArn"),
			DomainName:          r.optStr("domainName"),
			IdleTimeout:         r.int("albIdleTimeout"),
		},
		Redis: RedisConfig{
			URL:               r.optStr("redisUrl"),
			SecurityGroupID:   r.optStr("redisSecurityGroupId"),
			NodeType:          r.str("redisNodeType"),
			Nodes:             r.int("redisNodes"),
			TransitEncryption: r.bool("redisTransitEncryption"),
		},
		Alarms: AlarmsConfig{
			Target5xxPerMinute: r.int("alarm5xxPerMinute"),
			LatencyP99Ms:       r.int("alarmLatencyP99Ms"),
			CpuPercent:         r.int("alarmCpuPercent"),
			MemoryPercent:      r.int("alarmMemoryPercent"),
			Email:              r.optStr("alarmEmail"),
		},
		LogRetentionDays: r.int("logRetentionDays"),
	}
	errs := append(aws.errs, r.errs...)
	if len(errs) == 0 {
		errs = c.validate()
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("stack %q configuration: %w", ctx.Stack(), errors.Join(errs...))
	}
	return c, nil
}

// validate checks the relations between keys; each problem names its key.
func (c Config) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", fullKey(key), fmt.Sprintf(format, args...)))
	}

	n := c.Network
	if n.Created() {
		if len(n.PublicSubnetIDs) > 0 || len(n.PrivateSubnetIDs) > 0 {
			bad("vpcId", "required when publicSubnetIds or privateSubnetIds are set")
		}
		if _, err := subnetCidrs(n.VpcCidr, 2*zones); err != nil {
			bad("vpcCidr", "%v", err)
		}
		if n.NatGateways < 1 || n.NatGateways > 2 {
			bad("natGateways", "must be 1 or 2, got %d", n.NatGateways)
		}
	} else {
		if len(n.PublicSubnetIDs) < 2 {
			bad("publicSubnetIds", "an existing VPC needs two or more public subnets (in different zones) for the load balancer")
		}
		if len(n.PrivateSubnetIDs) < 2 {
			bad("privateSubnetIds", "an existing VPC needs two or more private subnets (in different zones) for the instances")
		}
	}

	h := c.Hosts
	if h.MinInstances < 0 || h.MinInstances > h.DesiredInstances || h.DesiredInstances > h.MaxInstances || h.MaxInstances < 1 {
		bad("desiredInstances", "need 0 <= minInstances (%d) <= desiredInstances (%d) <= maxInstances (%d), maxInstances >= 1",
			h.MinInstances, h.DesiredInstances, h.MaxInstances)
	}
	if h.RootVolumeGiB < 30 {
		bad("rootVolumeGiB", "the ECS-optimized AMI needs at least 30 GiB, got %d", h.RootVolumeGiB)
	}
	for _, cidr := range h.SSHCidrs {
		_, ipnet, err := net.ParseCIDR(cidr)
		switch {
		case err != nil:
			bad("sshCidrs", "%v", err)
		case isInternet(ipnet):
			bad("sshCidrs", "%s opens SSH to the internet; list internal ranges only", cidr)
		}
	}

	t := c.Tasks
	if t.Cpu < 128 || t.Memory < 128 {
		bad("taskMemory", "taskCpu (%d) and taskMemory (%d MiB) must both be at least 128", t.Cpu, t.Memory)
	}
	if t.MinTasks < 1 || t.MinTasks > t.DesiredTasks || t.DesiredTasks > t.MaxTasks {
		bad("desiredTasks", "need 1 <= minTasks (%d) <= desiredTasks (%d) <= maxTasks (%d)", t.MinTasks, t.DesiredTasks, t.MaxTasks)
	}
	if t.MinimumHealthyPercent < 0 || t.MinimumHealthyPercent > 100 {
		bad("deploymentMinimumHealthyPercent", "must be within 0..100, got %d", t.MinimumHealthyPercent)
	}
	if t.MaximumPercent < 100 || t.MaximumPercent > 200 || t.MaximumPercent <= t.MinimumHealthyPercent {
		bad("deploymentMaximumPercent", "must be within 100..200 and above deploymentMinimumHealthyPercent, got %d", t.MaximumPercent)
	}
	if t.HealthCheckGracePeriod < 0 {
		bad("healthCheckGracePeriod", "must not be negative, got %d", t.HealthCheckGracePeriod)
	}
	if t.StopTimeout < 2 || t.StopTimeout > 120 {
		bad("stopTimeout", "must be within 2..120 seconds (the ECS limit), got %d", t.StopTimeout)
	}
	if t.CpuTargetPercent <= 0 || t.CpuTargetPercent > 100 {
		bad("cpuTargetPercent", "must be within 1..100, got %d", t.CpuTargetPercent)
	}
	if t.RequestsPerTarget <= 0 {
		bad("requestsPerTarget", "must be positive, got %d", t.RequestsPerTarget)
	}

	b := c.Balancer
	if b.DeregistrationDelay < 0 || b.DeregistrationDelay >= t.StopTimeout {
		bad("deregistrationDelay", "must be shorter than stopTimeout (%d s) so a draining task is still alive, got %d", t.StopTimeout, b.DeregistrationDelay)
	}
	if b.CertificateArn != "" && b.DomainName == "" {
		bad("domainName", "required with certificateArn: the name the certificate covers")
	}
	if b.IdleTimeout < 1 || b.IdleTimeout > 4000 {
		bad("albIdleTimeout", "must be within 1..4000 seconds, got %d", b.IdleTimeout)
	}

	if c.Redis.Created() {
		if c.Redis.SecurityGroupID != "" {
			bad("redisSecurityGroupId", "only meaningful with redisUrl (an existing Redis)")
		}
		if c.Redis.Nodes < 1 || c.Redis.Nodes > 6 {
			bad("redisNodes", "must be within 1..6, got %d", c.Redis.Nodes)
		}
	} else if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		bad("redisUrl", "want redis://host:port/db or rediss://host:port/db")
	} else if _, hasPassword := u.User.Password(); hasPassword {
		bad("redisUrl", "must not carry a password: stack config is not a secret store")
	}

	for _, pair := range strings.Split(c.Upstreams, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(pair), "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("upstreams", "want name=http(s)://host/path pairs separated by commas, got %q", pair)
		}
	}

	for _, p := range []struct {
		key   string
		value int
	}{
		{"alarm5xxPerMinute", c.Alarms.Target5xxPerMinute},
		{"alarmLatencyP99Ms", c.Alarms.LatencyP99Ms},
		{"alarmCpuPercent", c.Alarms.CpuPercent},
		{"alarmMemoryPercent", c.Alarms.MemoryPercent},
	} {
		if p.value < 1 {
			bad(p.key, "must be positive, got %d", p.value)
		}
	}
	if !slices.Contains(logRetentionDays, c.LogRetentionDays) {
		bad("logRetentionDays", "CloudWatch keeps logs for one of %v days, got %d", logRetentionDays, c.LogRetentionDays)
	}
	return errs
}

// logRetentionDays are the retention periods CloudWatch Logs accepts.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// isInternet reports whether a network is the whole IPv4 or IPv6 internet.
func isInternet(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

// fullKey is the key as operators type it in Pulumi.<stack>.yaml.
func fullKey(key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return "asap:" + key
}

// reader reads typed keys of one config namespace and remembers every failure.
type reader struct {
	cfg   *config.Config
	ns    string
	stack string
	errs  []error
}

func (r *reader) fail(key string, err error) {
	if errors.Is(err, config.ErrMissingVar) {
		r.errs = append(r.errs, fmt.Errorf("missing required key %s (pulumi config set %s <value> --stack %s)",
			r.name(key), r.name(key), r.stack))
		return
	}
	r.errs = append(r.errs, fmt.Errorf("key %s: %w", r.name(key), err))
}

func (r *reader) name(key string) string {
	return r.ns + ":" + key
}

func (r *reader) str(key string) string {
	v, err := r.cfg.Try(key)
	if err == nil && strings.TrimSpace(v) == "" {
		err = config.ErrMissingVar
	}
	if err != nil {
		r.fail(key, err)
	}
	return v
}

func (r *reader) int(key string) int {
	v, err := r.cfg.TryInt(key)
	if err != nil {
		r.fail(key, err)
	}
	return v
}

func (r *reader) bool(key string) bool {
	v, err := r.cfg.TryBool(key)
	if err != nil {
		r.fail(key, err)
	}
	return v
}

func (r *reader) optStr(key string) string {
	return strings.TrimSpace(r.cfg.Get(key))
}

// optList reads an optional list given as a YAML list in the stack file.
func (r *reader) optList(key string) []string {
	var v []string
	if err := r.cfg.TryObject(key, &v); err != nil && !errors.Is(err, config.ErrMissingVar) {
		r.fail(key, err)
	}
	return v
}
