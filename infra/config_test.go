package main

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

func TestMissingRequiredKeyIsNamed(t *testing.T) {
	keys := []string{
		"asap:upstreams", "asap:instanceType", "asap:taskMemory",
		"asap:deploymentMinimumHealthyPercent", "asap:stopTimeout", "asap:deregistrationDelay",
		"asap:logRetentionDays", "aws:region",
	}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			cfg := with(stackConfig(t, "staging"), key, "")
			_, err := runStack(t, "staging", cfg)
			if err == nil {
				t.Fatalf("got no error without %s", key)
			}
			if !strings.Contains(err.Error(), "missing required key "+key) {
				t.Errorf("got error %q, want one naming %s", err, key)
			}
		})
	}

	// Every problem is reported at once.
	cfg := with(stackConfig(t, "production"), "asap:upstreams", "", "asap:taskCpu", "")
	_, err := runStack(t, "production", cfg)
	if err == nil || !strings.Contains(err.Error(), "asap:upstreams") || !strings.Contains(err.Error(), "asap:taskCpu") {
		t.Errorf("got error %v, want one naming asap:upstreams and asap:taskCpu", err)
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name    string
		kv      []string
		wantKey string
	}{
		{"not a number", []string{"asap:taskCpu", "lots"}, "asap:taskCpu"},
		{"deregistration delay negative", []string{"asap:deregistrationDelay", "-1"}, "asap:deregistrationDelay"},
		{"image by tag", []string{"asap:image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging:v1"}, "asap:image"},
		{"image digest too short", []string{"asap:image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:abc"}, "asap:image"},
		{"ssh ranges without a key pair", []string{"asap:sshCidrs", `["10.0.0.0/16"]`}, "asap:sshCidrs"},
		{"hosted zone without domain", []string{"asap:hostedZoneId", "Z123"}, "asap:hostedZoneId"},
		{"ami not an ami id", []string{"asap:amiId", "latest"}, "asap:amiId"},
		{"staging stops its only task", []string{"asap:deploymentMinimumHealthyPercent", "0", "asap:deploymentMaximumPercent", "100"}, "asap:deploymentMinimumHealthyPercent"},
		{"no room to replace", []string{"asap:deploymentMaximumPercent", "100"}, "asap:deploymentMaximumPercent"},
		{"memory alarm below GOMEMLIMIT", []string{"asap:alarmMemoryPercent", "80"}, "asap:alarmMemoryPercent"},
		{"fleet too small for a deploy at maxTasks", []string{"asap:maxInstances", "2"}, "asap:maxInstances"},
		{"maximum below 100", []string{"asap:deploymentMaximumPercent", "90"}, "asap:deploymentMaximumPercent"},
		{"desired above max", []string{"asap:desiredTasks", "99"}, "asap:desiredTasks"},
		{"certificate without domain", []string{"asap:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, "asap:domainName"},
		{"subnets without vpc", []string{"asap:publicSubnetIds", `["subnet-a","subnet-b"]`}, "asap:vpcId"},
		{"vpc without subnets", []string{"asap:vpcId", "vpc-123"}, "asap:publicSubnetIds"},
		{"redis url with password", []string{"asap:redisUrl", "redis://:hunter2@10.0.0.9:6379/0"}, "asap:redisUrl"},
		{"redis url not redis", []string{"asap:redisUrl", "http://10.0.0.9:6379"}, "asap:redisUrl"},
		{"upstream without url", []string{"asap:upstreams", "primary"}, "asap:upstreams"},
		{"vendor id of an unknown upstream", []string{"asap:upstreamVendors", "other=755"}, "asap:upstreamVendors"},
		{"vendor id out of range", []string{"asap:upstreamVendors", "primary=70000"}, "asap:upstreamVendors"},
		{"vendor id not a number", []string{"asap:upstreamVendors", "primary=x"}, "asap:upstreamVendors"},
		{"vendor id given twice", []string{"asap:upstreamVendors", "primary=755,primary=32"}, "asap:upstreamVendors"},
		{"vendor ids not pairs", []string{"asap:upstreamVendors", "755"}, "asap:upstreamVendors"},
		{"ssh from the internet", []string{"asap:sshKeyName", "ops", "asap:sshCidrs", `["0.0.0.0/0"]`}, "asap:sshCidrs"},
		{"ssh range not a cidr", []string{"asap:sshKeyName", "ops", "asap:sshCidrs", `["10.0.0.1"]`}, "asap:sshCidrs"},
		{"ssh ranges not a list", []string{"asap:sshKeyName", "ops", "asap:sshCidrs", `10.0.0.0/8`}, "asap:sshCidrs"},
		{"retention CloudWatch refuses", []string{"asap:logRetentionDays", "10"}, "asap:logRetentionDays"},
		{"alarm threshold zero", []string{"asap:alarmCpuPercent", "0"}, "asap:alarmCpuPercent"},
		{"vpc range too small", []string{"asap:vpcCidr", "10.0.0.0/24"}, "asap:vpcCidr"},
		{"vpc range not a cidr", []string{"asap:vpcCidr", "10.0.0.0"}, "asap:vpcCidr"},
		{"three NAT gateways", []string{"asap:natGateways", "3"}, "asap:natGateways"},
		{"redis group without redis url", []string{"asap:redisSecurityGroupId", "sg-1"}, "asap:redisSecurityGroupId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runStack(t, "staging", with(stackConfig(t, "staging"), tt.kv...))
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("got error %v, want one naming %s", err, tt.wantKey)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestExistingNetwork(t *testing.T) {
	cfg := with(stackConfig(t, "production"),
		"asap:vpcId", "vpc-0existing",
		"asap:publicSubnetIds", `["subnet-pub-a","subnet-pub-b"]`,
		"asap:privateSubnetIds", `["subnet-priv-a","subnet-priv-b","subnet-priv-c"]`,
	)
	run := mustRun(t, "production", cfg)
	for _, typ := range []string{tVpc, tSubnet, tIgw, tNat, tEip, tRouteTable, tRouteAssoc} {
		if names := run.names(typ); len(names) > 0 {
			t.Errorf("with an existing VPC the program created %s %v", typ, names)
		}
	}
	for _, sg := range run.all(tSG) {
		if got := str(sg.Inputs, "vpcId"); got != "vpc-0existing" {
			t.Errorf("security group %s in %q, want vpc-0existing", sg.Name, got)
		}
	}
	if got := str(run.one(t, tTargetGroup, "tasks").Inputs, "vpcId"); got != "vpc-0existing" {
		t.Errorf("target group in %q, want vpc-0existing", got)
	}
	if got, want := strs(run.one(t, tLB, "lb").Inputs, "subnets"), []string{"subnet-pub-a", "subnet-pub-b"}; !slices.Equal(got, want) {
		t.Errorf("load balancer subnets: got %v, want %v", got, want)
	}
	want := []string{"subnet-priv-a", "subnet-priv-b", "subnet-priv-c"}
	if got := strs(run.one(t, tASG, "instances").Inputs, "vpcZoneIdentifiers"); !slices.Equal(got, want) {
		t.Errorf("instance subnets: got %v, want %v", got, want)
	}
	if got := strs(run.one(t, tRedisSubnets, "redis").Inputs, "subnetIds"); !slices.Equal(got, want) {
		t.Errorf("redis subnets: got %v, want %v", got, want)
	}
}

func TestCreatedNetwork(t *testing.T) {
	run := mustRun(t, "production", stackConfig(t, "production"))
	cidrs := map[string]string{}
	zones := map[string]string{}
	for _, s := range run.all(tSubnet) {
		cidrs[s.Name] = str(s.Inputs, "cidrBlock")
		zones[s.Name] = str(s.Inputs, "availabilityZone")
	}
	want := map[string]string{"public-0": "10.1.0.0/20", "public-1": "10.1.16.0/20", "private-0": "10.1.32.0/20", "private-1": "10.1.48.0/20"}
	for name, cidr := range want {
		if cidrs[name] != cidr {
			t.Errorf("subnet %s: got %q, want %q", name, cidrs[name], cidr)
		}
	}
	if zones["public-0"] == zones["public-1"] || zones["private-0"] == zones["private-1"] {
		t.Errorf("subnets share a zone: %v", zones)
	}
	// Production has a NAT gateway per zone: each private route table uses its own.
	var nats []string
	for _, rt := range run.all(tRouteTable) {
		for _, r := range list(rt.Inputs, "routes") {
			if nat := str(r.(map[string]any), "natGatewayId"); nat != "" {
				nats = append(nats, nat)
			}
		}
	}
	if !slices.Equal(nats, []string{"natgateway-nat-0-id", "natgateway-nat-1-id"}) {
		t.Errorf("private routes use NAT gateways %v, want one per zone", nats)
	}
}

func TestRedis(t *testing.T) {
	t.Run("created with TLS", func(t *testing.T) {
		run := mustRun(t, "production", stackConfig(t, "production"))
		rg := run.one(t, tRedis, "redis").Inputs
		if !boolean(rg, "transitEncryptionEnabled") || !boolean(rg, "atRestEncryptionEnabled") {
			t.Errorf("replication group encryption: got %v", rg)
		}
		if num(rg, "numCacheClusters") != 2 || !boolean(rg, "automaticFailoverEnabled") || !boolean(rg, "multiAzEnabled") {
			t.Errorf("production replication group: got %v, want 2 nodes with Multi-AZ failover", rg)
		}
		redisSG := sgID(t, run, "redis")
		if got := strs(rg, "securityGroupIds"); !slices.Equal(got, []string{redisSG}) {
			t.Errorf("replication group groups: got %v, want [%s]", got, redisSG)
		}
		rule := run.one(t, tSGRule, "redis-in-asap").Inputs
		if str(rule, "securityGroupId") != redisSG || str(rule, "sourceSecurityGroupId") != sgID(t, run, "asap") ||
			num(rule, "fromPort") != redisPort || num(rule, "toPort") != redisPort {
			t.Errorf("redis rule: got %v, want 6379 from the asap group", rule)
		}
		if got := redisEnv(t, run); !strings.HasPrefix(got, "rediss://") {
			t.Errorf("ASAP_REDIS_URL: got %q, want rediss://", got)
		}
	})
	// Without TLS a created Redis is refused: AUTH needs it (TestRedisAuth).
	t.Run("existing", func(t *testing.T) {
		url := "rediss://asap.abc123.clustercfg.use1.cache.amazonaws.com:6379/0"
		run := mustRun(t, "staging", with(stackConfig(t, "staging"),
			"asap:redisUrl", url, "asap:redisSecurityGroupId", "sg-0redis"))
		if names := append(run.names(tRedis), run.names(tRedisSubnets)...); len(names) > 0 {
			t.Errorf("with an existing Redis the program created %v", names)
		}
		if slices.Contains(run.names(tSG), "redis") {
			t.Error("with an existing Redis the program created a redis security group")
		}
		rule := run.one(t, tSGRule, "redis-in-asap").Inputs
		if str(rule, "securityGroupId") != "sg-0redis" || str(rule, "sourceSecurityGroupId") != sgID(t, run, "asap") {
			t.Errorf("redis rule: got %v, want sg-0redis open to the asap group", rule)
		}
		if got := redisEnv(t, run); got != url {
			t.Errorf("ASAP_REDIS_URL: got %q, want %q", got, url)
		}
	})
	t.Run("existing without group", func(t *testing.T) {
		run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:redisUrl", "redis://10.0.40.5:6379/0"))
		if slices.Contains(run.names(tSGRule), "redis-in-asap") {
			t.Error("a rule was added although no Redis security group was named")
		}
	})
}

func redisEnv(t *testing.T, run *stackRun) string {
	t.Helper()
	url, ok := envOf(container(t, run, containerName))["ASAP_REDIS_URL"]
	if !ok {
		t.Fatal("no ASAP_REDIS_URL in the container environment")
	}
	return url
}

func TestHTTPS(t *testing.T) {
	cert := "arn:aws:acm:us-east-1:123456789012:certificate/0d5e6a6c"
	run := mustRun(t, "production", with(stackConfig(t, "production"),
		"asap:certificateArn", cert, "asap:domainName", "asap.example.com"))
	https := run.one(t, tListener, "https").Inputs
	if num(https, "port") != httpsPort || str(https, "protocol") != "HTTPS" || str(https, "certificateArn") != cert {
		t.Errorf("https listener: got %v", https)
	}
	http := run.one(t, tListener, "http").Inputs
	action := list(http, "defaultActions")[0].(map[string]any)
	if str(action, "type") != "redirect" || str(obj(action, "redirect"), "protocol") != "HTTPS" {
		t.Errorf("http listener action: got %v, want a redirect to HTTPS", action)
	}
	var open []int
	for _, r := range run.all(tSGRule) {
		if str(r.Inputs, "securityGroupId") == sgID(t, run, "lb") && str(r.Inputs, "type") == "ingress" {
			open = append(open, num(r.Inputs, "fromPort"))
		}
	}
	slices.Sort(open)
	if !slices.Equal(open, []int{httpPort, httpsPort}) {
		t.Errorf("load balancer group opens %v, want [80 443]", open)
	}
	if got := run.outputs["url"]; got != "https://asap.example.com" {
		t.Errorf("url: got %q, want https://asap.example.com", got)
	}
}

// shutdownMargin is the slack stopTimeout keeps beyond the service's own shutdown
// budget: scheduling on a busy host, the log driver's last flush.
const shutdownMargin = 5 * time.Second

// TestShutdownOrder checks the stop sequence ECS runs behind a target group against the
// stack files and the service's env files: deregister (no new requests from that
// moment), wait until the target is unused — at most the deregistration delay — then
// SIGTERM, then SIGKILL after stopTimeout.
//   - The deregistration delay covers the longest request (ASAP_WRITE_TIMEOUT), so
//     SIGTERM finds the task idle.
//   - stopTimeout covers ASAP's whole shutdown after SIGTERM: drain period, shutdown
//     timeout and the win-notice flush, with a margin.
//   - The load balancer closes idle keep-alive connections before ASAP does, so it
//     never sends a request on a connection ASAP is closing.
func TestShutdownOrder(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			run := mustRun(t, stack, stackConfig(t, stack))
			env := readEnvFile(t, filepath.Join("..", "service", "config", stack+".env"))
			drain := parseDuration(t, env, "ASAP_DRAIN_PERIOD")
			shutdown := parseDuration(t, env, "ASAP_SHUTDOWN_TIMEOUT")
			notice := parseDuration(t, env, "ASAP_NOTICE_TIMEOUT")
			write := parseDuration(t, env, "ASAP_WRITE_TIMEOUT")
			idle := parseDuration(t, env, "ASAP_IDLE_TIMEOUT")

			// What the graph gives ECS and the load balancer.
			stop := time.Duration(derefInt32(container(t, run, containerName).StopTimeout)) * time.Second
			dereg := time.Duration(num(run.one(t, tTargetGroup, "tasks").Inputs, "deregistrationDelay")) * time.Second
			albIdle := time.Duration(num(run.one(t, tLB, "lb").Inputs, "idleTimeout")) * time.Second

			if need := drain + shutdown + notice + shutdownMargin; stop < need {
				t.Errorf("stopTimeout %v < drain %v + shutdown %v + notice flush %v + margin %v: ECS kills the task mid-shutdown",
					stop, drain, shutdown, notice, shutdownMargin)
			}
			if dereg < write {
				t.Errorf("deregistrationDelay %v < ASAP_WRITE_TIMEOUT %v: SIGTERM may cut a request still being answered", dereg, write)
			}
			if albIdle >= idle {
				t.Errorf("load balancer idle timeout %v >= ASAP_IDLE_TIMEOUT %v: ASAP may close a connection the load balancer reuses", albIdle, idle)
			}
			// The agreed numbers (docs/infrastructure.md, "Shutdown").
			got := []time.Duration{dereg, drain, shutdown, notice, stop, albIdle, idle}
			want := []time.Duration{10 * time.Second, time.Second, 10 * time.Second, 2 * time.Second, 20 * time.Second, 60 * time.Second, 75 * time.Second}
			if !slices.Equal(got, want) {
				t.Errorf("deregistration/drain/shutdown/notice/stopTimeout/ALB idle/ASAP idle: got %v, want %v", got, want)
			}
		})
	}
}

func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open env file: %v", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return env
}

func parseDuration(t *testing.T, env map[string]string, key string) time.Duration {
	t.Helper()
	if _, set := env[key]; !set {
		t.Fatalf("the env file does not set %s, which the shutdown budget needs", key)
	}
	d, err := time.ParseDuration(env[key])
	if err != nil {
		t.Fatalf("%s=%q: %v", key, env[key], err)
	}
	return d
}

// TestStackFilesMatchProject checks what `pulumi up` would check before running the
// program: every stack key is declared in Pulumi.yaml (a typo would otherwise be ignored
// silently), and every declared key without a default is set in every stack.
func TestStackFilesMatchProject(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	if project.Name != "asap" || project.Runtime.Name() != "go" || project.Main != "infra/" {
		t.Errorf("project: got name %q runtime %q main %q, want asap, go, infra/", project.Name, project.Runtime.Name(), project.Main)
	}
	for _, stack := range stacks {
		cfg := loadStackConfig(t, stack)
		for key := range cfg {
			ns, name, _ := strings.Cut(key, ":")
			if _, declared := project.Config[name]; ns == "asap" && !declared {
				t.Errorf("Pulumi.%s.yaml sets %s, which Pulumi.yaml does not declare", stack, key)
			}
			if ns != "asap" && key != "aws:region" {
				t.Errorf("Pulumi.%s.yaml sets %s, which the program does not read", stack, key)
			}
		}
		for name, decl := range project.Config {
			// Production leaves its upstreams to the operator on purpose
			// (TestProductionHasNoDefaultUpstream).
			if _, set := cfg["asap:"+name]; !set && decl.Default == nil && (stack != "production" || name != "upstreams") {
				t.Errorf("Pulumi.%s.yaml does not set asap:%s, which has no default", stack, name)
			}
			if decl.Description == "" {
				t.Errorf("Pulumi.yaml: asap:%s has no description", name)
			}
		}
		if cfg["aws:region"] == "" {
			t.Errorf("Pulumi.%s.yaml does not set aws:region", stack)
		}
	}
}

// Every key Pulumi.yaml declares has a row in docs/infrastructure.md's key table.
func TestConfigKeysDocumented(t *testing.T) {
	project, err := workspace.LoadProject(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "infrastructure.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, found := strings.Cut(string(doc), "## Configuration keys")
	table, _, _ = strings.Cut(table, "\n## ")
	if !found {
		t.Fatal("docs/infrastructure.md has no section \"Configuration keys\"")
	}
	for key := range project.Config {
		if !strings.Contains(table, "| `"+key+"`") && !strings.Contains(table, ", `"+key+"`") && !strings.Contains(table, " / `"+key+"`") {
			t.Errorf("docs/infrastructure.md, \"Configuration keys\": no row for asap:%s", key)
		}
	}
}

// TestUpstreamVendors: asap:upstreamVendors reaches ASAP as ASAP_UPSTREAM_VENDORS,
// the IAB vendor ids privacy enforcement needs under GDPR; a stack without it
// sets no such variable.
func TestUpstreamVendors(t *testing.T) {
	run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:upstreamVendors", "primary=755"))
	if got := envOf(container(t, run, containerName))["ASAP_UPSTREAM_VENDORS"]; got != "primary=755" {
		t.Errorf("ASAP_UPSTREAM_VENDORS = %q; want asap:upstreamVendors, primary=755", got)
	}
	run = mustRun(t, "staging", stackConfig(t, "staging"))
	if got, set := envOf(container(t, run, containerName))["ASAP_UPSTREAM_VENDORS"]; set {
		t.Errorf("ASAP_UPSTREAM_VENDORS = %q without asap:upstreamVendors; want it unset", got)
	}
}
