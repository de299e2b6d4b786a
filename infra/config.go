package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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

	// Image is a prebuilt image by digest (<registry>/<repository>@sha256:<hex>) that
	// the task runs; empty builds docker/<stack>.Dockerfile and pushes it to the stack's
	// own repository in the same update.
	Image string
	// BuildImage lets a stack without asap:image build and push its own image; false
	// (production) makes asap:image required: the stack runs only a promoted digest.
	BuildImage bool
	// Upstreams is ASAP_UPSTREAMS: name=url pairs separated by commas.
	Upstreams string
	// UpstreamVendors is ASAP_UPSTREAM_VENDORS: name=gvlid pairs, each upstream's
	// IAB Global Vendor List id; optional, but under GDPR an upstream without one
	// is never called (docs/privacy.md).
	UpstreamVendors string
	// RedisKeyPrefix is ASAP_REDIS_KEY_PREFIX.
	RedisKeyPrefix string
	// DemoAdServer runs the demo ad server (service/cmd/adserver) as a container of
	// every task, reachable from ASAP as http://adserver:8081; staging's upstream.
	DemoAdServer bool
	// SmokePkey is the placement the rollout check's smoke requests ask for.
	SmokePkey string
	// MetricsAgentImage is the CloudWatch agent image of the metrics sidecar.
	MetricsAgentImage string

	Network  NetworkConfig
	Hosts    HostsConfig
	Tasks    TasksConfig
	Balancer BalancerConfig
	Redis    RedisConfig
	Alarms   AlarmsConfig
	// Protect guards the stack's state (Redis, its AUTH secret, the load balancer)
	// against deletion and replacement.
	Protect ProtectConfig

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
	// SSHKeyName is an EC2 key pair for the instances; empty sets none, and then no
	// port-22 rule exists (shell access is Session Manager).
	SSHKeyName string
	// AmiID pins the instances' AMI; empty follows the ECS-optimized AMI's SSM
	// parameter for the instance type's architecture. Either way a changed AMI reaches
	// the fleet through the group's instance refresh.
	AmiID string
}

// TasksConfig sizes the ECS service and its rolling deployment.
type TasksConfig struct {
	// Cpu is the task's CPU units (1024 = one vCPU), shared by its containers. Memory
	// is the ASAP container's hard limit in MiB (GOMEMLIMIT derives from it); the task
	// reserves its sidecars' memory on top.
	Cpu    int
	Memory int
	// MinTasks and MaxTasks bound service autoscaling; DesiredTasks is the initial count.
	MinTasks     int
	MaxTasks     int
	DesiredTasks int
	// MinimumHealthyPercent and MaximumPercent bound a deployment (100/200 starts
	// every new task before stopping an old one). DesiredTasks × MinimumHealthyPercent
	// keeps at least one task serving.
	MinimumHealthyPercent int
	MaximumPercent        int
	// HealthCheckGracePeriod (seconds) ignores failing load-balancer checks after a start.
	HealthCheckGracePeriod int
	// StopTimeout (seconds) is how long ECS waits after SIGTERM before SIGKILL. ECS
	// sends SIGTERM only after the target group has drained the task, so it must cover
	// the service's drain period, shutdown timeout and notice flush (docs/infrastructure.md).
	StopTimeout int
	// CpuTargetPercent and RequestsPerTarget are the autoscaling targets.
	CpuTargetPercent  int
	RequestsPerTarget int
}

// BalancerConfig configures the application load balancer.
type BalancerConfig struct {
	// DeregistrationDelay (seconds) is the longest the target group waits for a
	// deregistered task's requests to finish before ECS sends SIGTERM; at least the
	// service's write timeout, which bounds any request.
	DeregistrationDelay int
	// CertificateArn turns on the HTTPS listener (HTTP then redirects to it); empty
	// serves plain HTTP only.
	CertificateArn string
	// DomainName is the name the certificate covers and the stack's url; required with
	// CertificateArn.
	DomainName string
	// IdleTimeout (seconds) of client connections; below the service's idle timeout.
	IdleTimeout int
	// HostedZoneID is the Route 53 zone of DomainName; with both set the program
	// creates the alias record that makes the url output resolve.
	HostedZoneID string
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
	// TransitEncryption turns on TLS (rediss://) for a created replication group; it
	// must be on, as AUTH needs it.
	TransitEncryption bool
	// SnapshotRetentionDays keeps daily snapshots of a created group that long; 0
	// takes none.
	SnapshotRetentionDays int
	// FinalSnapshot takes a snapshot named asap-<stack>-final when the group is deleted.
	FinalSnapshot bool
}

// ProtectConfig is how much a stack guards what it cannot recreate: placements live
// only in Redis, and clients reach the load balancer's name. Staging stays disposable.
type ProtectConfig struct {
	// Resources sets pulumi.Protect on the Redis replication group, its AUTH secret
	// and the load balancer: `pulumi up` refuses to delete or replace them, and
	// `pulumi destroy` stops, until an operator runs `pulumi state unprotect`.
	Resources bool
	// LoadBalancerDeletion turns on the load balancer's own deletion protection (AWS
	// refuses DeleteLoadBalancer, whatever the caller).
	LoadBalancerDeletion bool
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
	// ShedPerMinute alarms on requests ASAP refused with 503 (in-flight and queue full).
	ShedPerMinute int
	// UpstreamTimeoutsPerMinute and UpstreamErrorsPerMinute alarm per upstream.
	UpstreamTimeoutsPerMinute int
	UpstreamErrorsPerMinute   int
	// StalePerMinute alarms on placements served stale (Redis failing).
	StalePerMinute int
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
		Stack:             ctx.Stack(),
		Region:            aws.str("region"),
		Image:             r.optStr("image"),
		BuildImage:        r.bool("buildImage"),
		Upstreams:         r.str("upstreams"),
		UpstreamVendors:   r.optStr("upstreamVendors"),
		RedisKeyPrefix:    r.str("redisKeyPrefix"),
		DemoAdServer:      r.bool("demoAdServer"),
		SmokePkey:         r.str("smokePkey"),
		MetricsAgentImage: r.str("metricsAgentImage"),
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
			AmiID:            r.optStr("amiId"),
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
			HostedZoneID:        r.optStr("hostedZoneId"),
		},
		Redis: RedisConfig{
			URL:                   r.optStr("redisUrl"),
			SecurityGroupID:       r.optStr("redisSecurityGroupId"),
			NodeType:              r.str("redisNodeType"),
			Nodes:                 r.int("redisNodes"),
			TransitEncryption:     r.bool("redisTransitEncryption"),
			SnapshotRetentionDays: r.int("redisSnapshotRetentionDays"),
			FinalSnapshot:         r.bool("redisFinalSnapshot"),
		},
		Protect: ProtectConfig{
			Resources:            r.bool("protect"),
			LoadBalancerDeletion: r.bool("albDeletionProtection"),
		},
		Alarms: AlarmsConfig{
			Target5xxPerMinute:        r.int("alarm5xxPerMinute"),
			LatencyP99Ms:              r.int("alarmLatencyP99Ms"),
			CpuPercent:                r.int("alarmCpuPercent"),
			MemoryPercent:             r.int("alarmMemoryPercent"),
			Email:                     r.optStr("alarmEmail"),
			ShedPerMinute:             r.int("alarmShedPerMinute"),
			UpstreamTimeoutsPerMinute: r.int("alarmUpstreamTimeoutsPerMinute"),
			UpstreamErrorsPerMinute:   r.int("alarmUpstreamErrorsPerMinute"),
			StalePerMinute:            r.int("alarmStalePerMinute"),
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
	if len(h.SSHCidrs) > 0 && h.SSHKeyName == "" {
		bad("sshCidrs", "a port-22 rule without asap:sshKeyName reaches instances that accept no key; set a key pair or use Session Manager")
	}
	if h.AmiID != "" && !amiPattern.MatchString(h.AmiID) {
		bad("amiId", "want an AMI id such as ami-0123456789abcdef0, got %q", h.AmiID)
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
	// ECS rounds the healthy floor up and the running ceiling down. At the smallest
	// count a deployment must keep one task serving and still have room to move.
	if low, high := deploymentBounds(t.MinTasks, t.MinimumHealthyPercent, t.MaximumPercent); low < 1 || high <= low {
		bad("deploymentMinimumHealthyPercent", "with minTasks %d, %d%%..%d%% keeps %d task(s) serving and allows %d running during a deploy; "+
			"want at least 1 serving and room for one more", t.MinTasks, t.MinimumHealthyPercent, t.MaximumPercent, low, high)
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
	// ECS waits for the deregistration delay before SIGTERM, so the two add up rather
	// than overlap; the cross-checks with the service's env files are in
	// TestShutdownOrder.
	if b.DeregistrationDelay < 0 || b.DeregistrationDelay > 3600 {
		bad("deregistrationDelay", "must be within 0..3600 seconds, got %d", b.DeregistrationDelay)
	}
	if b.CertificateArn != "" && b.DomainName == "" {
		bad("domainName", "required with certificateArn: the name the certificate covers")
	}
	if b.HostedZoneID != "" && b.DomainName == "" {
		bad("hostedZoneId", "only meaningful with asap:domainName, the name the alias record points at the load balancer")
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
		if !c.Redis.TransitEncryption {
			bad("redisTransitEncryption", "must be true: the created Redis requires AUTH, and ElastiCache takes an AUTH token only with TLS")
		}
		if c.Redis.SnapshotRetentionDays < 0 || c.Redis.SnapshotRetentionDays > 35 {
			bad("redisSnapshotRetentionDays", "must be within 0..35 (the ElastiCache limit), got %d", c.Redis.SnapshotRetentionDays)
		}
	} else if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		bad("redisUrl", "want redis://host:port/db or rediss://host:port/db")
	} else if _, hasPassword := u.User.Password(); hasPassword {
		bad("redisUrl", "must not carry a password: stack config is not a secret store")
	}

	if c.Image == "" && !c.BuildImage {
		bad("image", "required: asap:buildImage is false, so this stack runs only an image promoted to it by digest "+
			"(make promote sets it); it never builds the checkout")
	}
	if c.Image != "" && !imageDigestPattern.MatchString(c.Image) {
		bad("image", "want a prebuilt image by digest, <registry>/<repository>@sha256:<64 hex>, got %q (empty builds docker/%s.Dockerfile)", c.Image, c.Stack)
	}
	for _, err := range c.checkUpstreams() {
		bad("upstreams", "%v", err)
	}
	for _, err := range c.checkUpstreamVendors() {
		bad("upstreamVendors", "%v", err)
	}

	for _, p := range []struct {
		key   string
		value int
		min   int // 1: a threshold that must be positive; 0: one that may be 0
	}{
		{"alarm5xxPerMinute", c.Alarms.Target5xxPerMinute, 1},
		{"alarmLatencyP99Ms", c.Alarms.LatencyP99Ms, 1},
		{"alarmCpuPercent", c.Alarms.CpuPercent, 1},
		{"alarmMemoryPercent", c.Alarms.MemoryPercent, 1},
		{"alarmShedPerMinute", c.Alarms.ShedPerMinute, 0},
		{"alarmUpstreamTimeoutsPerMinute", c.Alarms.UpstreamTimeoutsPerMinute, 0},
		{"alarmUpstreamErrorsPerMinute", c.Alarms.UpstreamErrorsPerMinute, 0},
		{"alarmStalePerMinute", c.Alarms.StalePerMinute, 0},
	} {
		switch {
		case p.min == 1 && p.value < 1:
			bad(p.key, "must be positive, got %d", p.value)
		case p.value < 0:
			bad(p.key, "must not be negative, got %d", p.value)
		}
	}
	// A healthy task grows its heap to GOMEMLIMIT (GOGC=400 lets it); the alarm must
	// sit above that, with the sidecars at their limits, or it fires on every task.
	if healthy := healthyMemoryPercent(c); c.Alarms.MemoryPercent <= healthy {
		bad("alarmMemoryPercent", "%d%% is not above the %d%% of task memory a healthy task may use (GOMEMLIMIT %d MiB + sidecars %d MiB of %d MiB)",
			c.Alarms.MemoryPercent, healthy, goMemLimitMiB(c), sidecarMemoryMiB(c), taskMemoryMiB(c))
	}
	if !slices.Contains(logRetentionDays, c.LogRetentionDays) {
		bad("logRetentionDays", "CloudWatch keeps logs for one of %v days, got %d", logRetentionDays, c.LogRetentionDays)
	}
	return errs
}

// deploymentBounds are the tasks ECS keeps serving (rounded up) and lets run (rounded
// down) during a deployment of n tasks.
func deploymentBounds(n, minPercent, maxPercent int) (low, high int) {
	return (n*minPercent + 99) / 100, n * maxPercent / 100
}

var (
	// imageDigestPattern is an image reference by digest, without a tag.
	imageDigestPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$`)
	amiPattern         = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
)

// upstream is one name=url pair of ASAP_UPSTREAMS.
type upstream struct {
	Name string
	URL  *url.URL
}

// upstreams parses ASAP_UPSTREAMS; checkUpstreams reports what is wrong with it.
func (c Config) upstreams() []upstream {
	var out []upstream
	for _, pair := range strings.Split(c.Upstreams, ",") {
		name, raw, _ := strings.Cut(strings.TrimSpace(pair), "=")
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			u = nil
		}
		out = append(out, upstream{Name: strings.TrimSpace(name), URL: u})
	}
	return out
}

// checkUpstreams refuses upstreams that cannot answer: malformed pairs, the demo ad
// server's name when the stack does not run it, and addresses inside the VPC this
// stack creates, where nothing but the stack's own resources (with addresses AWS
// picks) can listen.
func (c Config) checkUpstreams() []error {
	var errs []error
	var vpc *net.IPNet
	if c.Network.Created() {
		_, vpc, _ = net.ParseCIDR(c.Network.VpcCidr)
	}
	for _, up := range c.upstreams() {
		u := up.URL
		if up.Name == "" || u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			errs = append(errs, fmt.Errorf("want name=http(s)://host/path pairs separated by commas, got %q", c.Upstreams))
			continue
		}
		host := u.Hostname()
		if host == demoAdServerHost && !c.DemoAdServer {
			errs = append(errs, fmt.Errorf("%s names %s, the demo ad server, which only runs with asap:demoAdServer: true", up.Name, host))
		}
		if ip := net.ParseIP(host); ip != nil && vpc != nil && vpc.Contains(ip) {
			errs = append(errs, fmt.Errorf("%s is %s, inside the VPC this stack creates (asap:vpcCidr %s), where the stack runs no ad server; "+
				"name a real upstream", up.Name, host, c.Network.VpcCidr))
		}
	}
	return errs
}

// checkUpstreamVendors refuses what ASAP would refuse at start, so that a bad
// asap:upstreamVendors fails the preview, not the deployment's tasks: entries that
// are not name=gvlid, a name that asap:upstreams does not configure or given
// twice, an id outside 1–65535 (service/config, ASAP_UPSTREAM_VENDORS).
func (c Config) checkUpstreamVendors() []error {
	if strings.TrimSpace(c.UpstreamVendors) == "" {
		return nil
	}
	known := map[string]bool{}
	for _, up := range c.upstreams() {
		known[up.Name] = true
	}
	var errs []error
	seen := map[string]bool{}
	for _, pair := range strings.Split(c.UpstreamVendors, ",") {
		name, raw, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		id, err := strconv.Atoi(raw)
		switch {
		case !ok || name == "":
			errs = append(errs, fmt.Errorf("want name=gvlid pairs separated by commas, got %q", pair))
		case !known[name]:
			errs = append(errs, fmt.Errorf("%s is not an upstream of asap:upstreams", name))
		case seen[name]:
			errs = append(errs, fmt.Errorf("%s is given twice", name))
		case err != nil || id < 1 || id > 65535:
			errs = append(errs, fmt.Errorf("%s: the vendor id must be a number from 1 to 65535, got %q", name, raw))
		}
		seen[name] = true
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
		r.errs = append(r.errs, fmt.Errorf("missing required key %s (pulumi config set %s <value> --stack %s, then commit Pulumi.%s.yaml: "+
			"the pipeline deploys from a clean checkout)", r.name(key), r.name(key), r.stack, r.stack))
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
