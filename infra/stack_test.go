package main

// Tests of what AWS and the providers do with the graph (issue 10): one test per point,
// each run on the committed stack files merged with Pulumi.yaml's defaults.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stagingImageDigest is a prebuilt image by digest, as staging's verified output gives it.
const stagingImageDigest = mockAccount + ".dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Point 1: the committed Pulumi.staging.yaml alone builds docker/staging.Dockerfile,
// pushes it to the stack's repository and runs it by the digest the push returns.
func TestFreshStagingBuildsAndRunsItsImage(t *testing.T) {
	run := mustRun(t, "staging", loadStackConfig(t, "staging"))
	img := run.one(t, tDockerImage, "asap")
	repo := run.one(t, tRepo, "asap")
	repoURL := str(repo.Outputs, "repositoryUrl")

	build := obj(img.Inputs, "build")
	if got := filepath.ToSlash(str(build, "dockerfile")); got != "../docker/staging.Dockerfile" {
		t.Errorf("dockerfile: got %q, want ../docker/staging.Dockerfile (from infra/, where pulumi runs the program)", got)
	}
	if got := str(build, "context"); got != ".." {
		t.Errorf("build context: got %q, want the repository root", got)
	}
	if got := str(build, "platform"); got != "linux/amd64" {
		t.Errorf("platform: got %q, want linux/amd64 for %s", got, run.config["asap:instanceType"])
	}
	name := str(img.Inputs, "imageName")
	if !regexp.MustCompile("^" + regexp.QuoteMeta(repoURL) + `:src-[0-9a-f]{16}$`).MatchString(name) {
		t.Errorf("image name %q: want the stack's repository %s with a content tag", name, repoURL)
	}
	if got := obj(build, "args")["VERSION"]; got != strings.TrimPrefix(name, repoURL+":") {
		t.Errorf("VERSION build arg: got %v, want the tag", got)
	}
	reg := obj(img.Inputs, "registry")
	if str(reg, "server") != repoURL || str(reg, "username") != "AWS" {
		t.Errorf("registry: got %v, want %s with the ECR token's user", reg, repoURL)
	}
	if !slices.Contains(run.invokes, "aws:ecr/getAuthorizationToken:getAuthorizationToken") {
		t.Error("no ecr.GetAuthorizationToken: the push has no credentials")
	}
	if !strings.Contains(fmt.Sprint(reg["password"]), mockPassword) {
		t.Errorf("registry password: got %v, want the ECR token's password", reg["password"])
	}

	digest := str(img.Outputs, "repoDigest")
	if !strings.Contains(digest, "@sha256:") {
		t.Fatalf("mock repoDigest %q", digest)
	}
	for _, name := range []string{containerName, demoAdServerName} {
		if got := derefString(container(t, run, name).Image); got != digest {
			t.Errorf("container %s runs %q, want the pushed digest %q", name, got, digest)
		}
	}
	if got := run.outputs["image"]; got != digest {
		t.Errorf("image output: got %v, want %q", got, digest)
	}
	if !run.one(t, tTaskDef, "asap").inputWaitsFor("containerDefinitions", tDockerImage, "asap") {
		t.Error("the task definition does not wait for the image push")
	}

	// The same tree gives the same tag: nothing rebuilds on an unchanged checkout.
	again := mustRun(t, "staging", loadStackConfig(t, "staging"))
	if got := str(again.one(t, tDockerImage, "asap").Inputs, "imageName"); got != name {
		t.Errorf("second run tags %q, first %q", got, name)
	}
}

// Point 1: a prebuilt image by digest is run as it is; nothing is built, and the
// execution role may pull from that repository only.
func TestPrebuiltImage(t *testing.T) {
	run := mustRun(t, "production", with(stackConfig(t, "production"), "asap:image", stagingImageDigest))
	if names := run.names(tDockerImage); len(names) > 0 {
		t.Errorf("with asap:image the program builds %v", names)
	}
	if got := derefString(container(t, run, containerName).Image); got != stagingImageDigest {
		t.Errorf("image: got %q, want %q", got, stagingImageDigest)
	}
	if got := run.outputs["image"]; got != stagingImageDigest {
		t.Errorf("image output: got %v", got)
	}
	policy := str(run.one(t, tRolePolicy, "task-execution").Inputs, "policy")
	stagingRepo := "arn:aws:ecr:us-east-1:" + mockAccount + ":repository/asap-staging"
	if !strings.Contains(policy, `"`+stagingRepo+`"`) {
		t.Errorf("execution policy %s does not let the task pull from %s", policy, stagingRepo)
	}
	if own := str(run.one(t, tRepo, "asap").Outputs, "arn"); strings.Contains(policy, own) {
		t.Errorf("execution policy %s names the stack's own repository too", policy)
	}

	// A tag is not a digest: the key is named.
	_, err := runStack(t, "production", with(stackConfig(t, "production"), "asap:image", strings.Split(stagingImageDigest, "@")[0]+":v1.2.3"))
	if err == nil || !strings.Contains(err.Error(), "asap:image") {
		t.Errorf("image by tag: got error %v, want one naming asap:image", err)
	}
}

// Point 1: no stack file carries a placeholder tag, and the key is gone.
func TestNoImageTag(t *testing.T) {
	for _, f := range []string{"Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "imageTag") || strings.Contains(string(b), "bootstrap") {
			t.Errorf("%s still names imageTag or a bootstrap image", f)
		}
	}
}

// Point 2: staging's tasks run the demo ad server, and ASAP's upstream is it, over a
// container link on the bridge network.
func TestStagingUpstreamIsTheDemoAdServer(t *testing.T) {
	run := mustRun(t, "staging", loadStackConfig(t, "staging"))
	ad := container(t, run, demoAdServerName)
	if !slices.Equal(ad.EntryPoint, []string{"/adserver"}) {
		t.Errorf("adserver entry point: got %q, want [/adserver] (docker/staging.Dockerfile copies it there)", ad.EntryPoint)
	}
	if i := slices.Index(ad.Command, "-fill"); i < 0 || ad.Command[i+1] != "1" {
		t.Errorf("adserver command %q: want -fill 1 (the smoke /v2/ad must fill)", ad.Command)
	}
	asap := container(t, run, containerName)
	if !slices.Contains(asap.Links, demoAdServerName+":"+demoAdServerHost) {
		t.Errorf("ASAP links %v, want %s", asap.Links, demoAdServerName)
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "docker", "staging.Dockerfile"))
	if err != nil || !strings.Contains(string(dockerfile), "/out/adserver /adserver") {
		t.Errorf("docker/staging.Dockerfile does not put the adserver binary at /adserver (%v)", err)
	}

	ups := Config{Upstreams: envOf(asap)["ASAP_UPSTREAMS"]}.upstreams()
	if len(ups) != 1 || ups[0].Name != "primary" {
		t.Fatalf("staging upstreams %v, want primary (the sample placements' upstream)", ups)
	}
	u := ups[0].URL
	if u.Hostname() != demoAdServerHost || u.Port() != fmt.Sprint(demoAdServerPort) ||
		!slices.Contains(ad.Command, fmt.Sprintf(":%d", demoAdServerPort)) {
		t.Errorf("upstream %s does not reach the adserver listening with %q", u, ad.Command)
	}
	if got := run.outputs["smokePkey"]; got != "demo-feed" {
		t.Errorf("smokePkey: got %v, want demo-feed", got)
	}
	// Production runs no demo ad server.
	prod := mustRun(t, "production", stackConfig(t, "production"))
	for _, d := range containerDefs(t, prod) {
		if derefString(d.Name) == demoAdServerName {
			t.Error("production runs the demo ad server")
		}
	}
}

// Point 2: production has no default upstream, and no upstream may be an address in
// the VPC the stack creates.
func TestProductionHasNoDefaultUpstream(t *testing.T) {
	_, err := runStack(t, "production", loadStackConfig(t, "production"))
	if err == nil || !strings.Contains(err.Error(), "missing required key asap:upstreams") {
		t.Errorf("committed production: got error %v, want one naming asap:upstreams", err)
	}
	tests := []struct{ stack, upstreams string }{
		{"production", "primary=http://10.1.0.5:8081/openrtb2/auction"},
		{"staging", "primary=http://10.0.200.7/openrtb2/auction"},
		{"production", "primary=http://adserver:8081/openrtb2/auction"}, // no demo ad server there
	}
	for _, tt := range tests {
		_, err := runStack(t, tt.stack, with(stackConfig(t, tt.stack), "asap:upstreams", tt.upstreams))
		if err == nil || !strings.Contains(err.Error(), "asap:upstreams") {
			t.Errorf("%s with %s: got error %v, want one naming asap:upstreams", tt.stack, tt.upstreams, err)
		}
	}
	// An address in an existing VPC may be a real ad server the operator runs there.
	mustRun(t, "production", with(stackConfig(t, "production"),
		"asap:vpcId", "vpc-0existing", "asap:publicSubnetIds", `["subnet-pub-a","subnet-pub-b"]`,
		"asap:privateSubnetIds", `["subnet-priv-a","subnet-priv-b"]`,
		"asap:upstreams", "primary=http://10.1.0.5:8081/openrtb2/auction"))
}

// Point 3: every stack keeps a task serving through a deployment, rolls back on the
// 5xx and latency alarms, and waits long enough for its slowest first deploy.
func TestDeploysKeepServingAndRollBack(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		svc := run.one(t, tService, "asap")
		in := svc.Inputs
		low, high := deploymentBounds(atoi(t, run.config["asap:minTasks"]), num(in, "deploymentMinimumHealthyPercent"), num(in, "deploymentMaximumPercent"))
		if low < 1 || high <= low {
			t.Errorf("at minTasks a deploy keeps %d serving, runs up to %d: want >= 1 serving and room for one more", low, high)
		}
		alarms := obj(in, "alarms")
		if !boolean(alarms, "enable") || !boolean(alarms, "rollback") {
			t.Errorf("deployment alarms %v: want enabled with rollback", alarms)
		}
		var want []string
		for _, name := range []string{"target-5xx", "lb-5xx", "latency-p99"} {
			want = append(want, str(run.one(t, tAlarm, name).Inputs, "name"))
			if !svc.waitsFor(tAlarm, name) {
				t.Errorf("the service does not wait for alarm %s, which it names", name)
			}
		}
		if got := strs(alarms, "alarmNames"); !slices.Equal(got, want) {
			t.Errorf("deployment alarms: got %v, want %v", got, want)
		}
		if got := svc.Timeouts; got[0] < "30m" || got[1] < "30m" || len(got[0]) != 3 {
			t.Errorf("service custom timeouts %v: want create and update of 30m or more (the provider's default is 20m)", got)
		}
	})
}

// Point 3 and issue 21: the fleet holds a deployment at maxTasks with 200 % (every new
// task finds an instance) and 10 % more instances besides, so an instance refresh can
// run beside it.
func TestCapacityHoldsADeployAtMaxTasks(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		it := mockInstanceTypes[run.config["asap:instanceType"]]
		task := run.one(t, tTaskDef, "asap").Inputs
		perInstance := min(it.vcpus*1024/atoi(t, str(task, "cpu")), it.memory*registeredMemoryPercent/100/atoi(t, str(task, "memory")))
		svc := run.one(t, tService, "asap").Inputs
		peak := atoi(t, run.config["asap:maxTasks"]) * num(svc, "deploymentMaximumPercent") / 100
		need := (peak + perInstance - 1) / perInstance
		maxSize := num(run.one(t, tASG, "instances").Inputs, "maxSize")
		if maxSize*perInstance < peak {
			t.Errorf("maxInstances hold %d tasks (%d each), a deploy at maxTasks runs %d", maxSize*perInstance, perInstance, peak)
		}
		// 10 % headroom, in whole instances: maxSize >= need * 1.1.
		if maxSize*10 < need*11 {
			t.Errorf("maxInstances %d: a deploy at maxTasks needs %d instances, want at least %d (10 %% headroom for an instance refresh)",
				maxSize, need, (need*11+9)/10)
		}
	})
}

// Point 5: an instance boots only once it can join: the launch template and the group
// wait for the cluster, the instance role's policies and (created VPC) the NAT and
// private routes.
func TestFirstUpdateOrder(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		want := []struct{ typ, name string }{
			{tCluster, "cluster"}, {tAttachment, "instance-ecs"}, {tAttachment, "instance-ssm"},
			{tRouteAssoc, "private-0"}, {tRouteAssoc, "private-1"}, {tNat, "nat-0"},
		}
		for _, r := range []recorded{run.one(t, tLaunchTemplate, "instances"), run.one(t, tASG, "instances")} {
			for _, w := range want {
				if !r.waitsFor(w.typ, w.name) {
					t.Errorf("%s %s does not wait for %s %s", r.Type, r.Name, w.typ, w.name)
				}
			}
		}
		svc := run.one(t, tService, "asap")
		for _, w := range []struct{ typ, name string }{{tClusterCap, "cluster"}, {tListener, "http"}} {
			if !svc.waitsFor(w.typ, w.name) {
				t.Errorf("service does not wait for %s %s", w.typ, w.name)
			}
		}
	})
}

// Issue 21: subnets go to the region's own zones, never a Local or Wavelength Zone, and
// only to zones that offer the stack's instance type (production's c6i.xlarge is not
// offered in the mock's us-east-1a), as DescribeInstanceTypeOfferings lists them.
func TestZonesOfferTheInstanceType(t *testing.T) {
	want := map[string][]string{"staging": {"us-east-1a", "us-east-1b"}, "production": {"us-east-1b", "us-east-1c"}}
	eachStack(t, func(t *testing.T, run *stackRun) {
		zones := map[string]bool{}
		for _, s := range run.all(tSubnet) {
			zones[str(s.Inputs, "availabilityZone")] = true
		}
		var got []string
		for z := range zones {
			got = append(got, z)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[run.stack]) {
			t.Errorf("subnets in %v, want %v (zones offering %s, no Local Zone)", got, want[run.stack], run.config["asap:instanceType"])
		}
		if !slices.Contains(run.invokes, "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings") {
			t.Error("no ec2.GetInstanceTypeOfferings: zones are taken without checking the instance type")
		}
	})
	// A type offered in one zone only cannot hold two zones: the key is named.
	mockOfferings["m9.mock"] = []string{"us-east-1b"}
	mockInstanceTypes["m9.mock"] = mockInstanceTypes["t3.medium"]
	t.Cleanup(func() { delete(mockOfferings, "m9.mock"); delete(mockInstanceTypes, "m9.mock") })
	_, err := runStack(t, "staging", with(stackConfig(t, "staging"), "asap:instanceType", "m9.mock"))
	if err == nil || !strings.Contains(err.Error(), "asap:instanceType m9.mock: offered in 1 of") {
		t.Errorf("type in one zone: got error %v, want one naming asap:instanceType", err)
	}
}

// physicalNameKeys are the inputs that set a resource's AWS name.
var physicalNameKeys = []string{"name", "replicationGroupId", "dashboardName"}

// Point 5: every resource whose AWS name the program fixes is replaced delete-first.
func TestFixedNamesDeleteBeforeReplace(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		checked := 0
		for _, r := range run.resources {
			// The cluster capacity providers are one per cluster: a fixed identity too.
			fixed := r.Type == tClusterCap
			for _, k := range physicalNameKeys {
				fixed = fixed || str(r.Inputs, k) != ""
			}
			if r.Type == tTaskDef || r.Type == tDockerImage {
				continue // new revisions, never a name conflict
			}
			if fixed {
				checked++
				if !r.DeleteBeforeReplace {
					t.Errorf("%s %s has a fixed name but is replaced create-first", r.Type, r.Name)
				}
			}
		}
		if checked < 10 {
			t.Errorf("checked %d fixed-name resources, want the cluster, load balancer, alarms, ...", checked)
		}
	})
}

// Point 5: the AMI follows the instance type's architecture, and the image is built
// for it.
func TestAMIFollowsArchitecture(t *testing.T) {
	run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:instanceType", "c7g.xlarge"))
	if got := str(run.one(t, tLaunchTemplate, "instances").Inputs, "imageId"); got != mockArmAMI {
		t.Errorf("Graviton AMI: got %q, want %q from %s", got, mockArmAMI, amiParameters["arm64"])
	}
	if got := str(obj(run.one(t, tDockerImage, "asap").Inputs, "build"), "platform"); got != "linux/arm64" {
		t.Errorf("Graviton image platform: got %q, want linux/arm64", got)
	}
}

// Point 5: a new AMI reaches the fleet: the group refreshes its instances when the
// launch template changes (protected instances included), and a pinned AMI is used as
// given, without the SSM lookup.
func TestAMIChangesReachTheFleet(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		asg := run.one(t, tASG, "instances").Inputs
		refresh := obj(asg, "instanceRefresh")
		prefs := obj(refresh, "preferences")
		if str(refresh, "strategy") != "Rolling" || str(prefs, "scaleInProtectedInstances") != "Refresh" || num(prefs, "minHealthyPercentage") != 100 {
			t.Errorf("instance refresh %v: want Rolling, protected instances refreshed, 100%% healthy", refresh)
		}
		if got, want := str(obj(asg, "launchTemplate"), "version"), "1"; got != want {
			t.Errorf("launch template version %q, want the latest (%s)", got, want)
		}
	})
	pinned := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:amiId", "ami-0fedcba9876543210"))
	if got := str(pinned.one(t, tLaunchTemplate, "instances").Inputs, "imageId"); got != "ami-0fedcba9876543210" {
		t.Errorf("pinned AMI: got %q", got)
	}
	if slices.Contains(pinned.invokes, "aws:ssm/getParameter:getParameter") {
		t.Error("a pinned AMI still looks the parameter up")
	}
}

// metricNamesInService lists the Prometheus metric names the service registers.
func metricNamesInService(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`Name:\s*"(asap_[a-z_]+)"`)
	var names []string
	err := filepath.WalkDir(filepath.Join("..", "service", "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range re.FindAllSubmatch(b, -1) {
			names = append(names, string(m[1]))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Point 6: a CloudWatch agent sidecar scrapes ASAP's admin port over the bridge network
// and ships the selected metrics as EMF; its IAM is that log group and nothing more;
// the admin port stays off the load balancer.
func TestMetricsSidecar(t *testing.T) {
	service := metricNamesInService(t)
	eachStack(t, func(t *testing.T, run *stackRun) {
		agent := container(t, run, metricsContainerName)
		if derefString(agent.Image) != run.config["asap:metricsAgentImage"] || !slices.Contains(agent.Links, "asap:asap") {
			t.Errorf("metrics sidecar %s links %v: want the agent image linked to asap", derefString(agent.Image), agent.Links)
		}
		env := envOf(agent)
		var scrape struct {
			ScrapeConfigs []struct {
				MetricsPath   string `json:"metrics_path"`
				StaticConfigs []struct {
					Targets []string
					Labels  map[string]string
				} `json:"static_configs"`
			} `json:"scrape_configs"`
		}
		if err := json.Unmarshal([]byte(env["PROMETHEUS_CONFIG_CONTENT"]), &scrape); err != nil || len(scrape.ScrapeConfigs) != 1 {
			t.Fatalf("PROMETHEUS_CONFIG_CONTENT: %v %s", err, env["PROMETHEUS_CONFIG_CONTENT"])
		}
		sc := scrape.ScrapeConfigs[0]
		if sc.MetricsPath != "/metrics" || !slices.Equal(sc.StaticConfigs[0].Targets, []string{fmt.Sprintf("asap:%d", adminPort)}) ||
			sc.StaticConfigs[0].Labels["Stack"] != run.stack {
			t.Errorf("scrape config %+v: want asap:%d/metrics labelled Stack=%s", sc, adminPort, run.stack)
		}
		var agentCfg struct {
			Logs struct {
				MetricsCollected struct {
					Prometheus struct {
						LogGroupName string `json:"log_group_name"`
						EMF          struct {
							Namespace    string           `json:"metric_namespace"`
							Declarations []emfDeclaration `json:"metric_declaration"`
						} `json:"emf_processor"`
					} `json:"prometheus"`
				} `json:"metrics_collected"`
			} `json:"logs"`
		}
		if err := json.Unmarshal([]byte(env["CW_CONFIG_CONTENT"]), &agentCfg); err != nil {
			t.Fatalf("CW_CONFIG_CONTENT: %v", err)
		}
		prom := agentCfg.Logs.MetricsCollected.Prometheus
		if got, want := prom.LogGroupName, str(run.one(t, tLogGroup, "metrics").Inputs, "name"); got != want {
			t.Errorf("EMF log group: got %q, want %q", got, want)
		}
		if prom.EMF.Namespace != metricsNamespace {
			t.Errorf("EMF namespace: got %q, want %q", prom.EMF.Namespace, metricsNamespace)
		}
		for _, d := range prom.EMF.Declarations {
			for _, sel := range d.MetricSelectors {
				if name := strings.Trim(sel, "^$"); !slices.Contains(service, name) {
					t.Errorf("EMF selects %s, which the service does not register (service/internal/*)", name)
				}
			}
		}

		// IAM: the task role writes the metrics log group, nothing else (but ECS
		// Exec's channels, TestAdminPortThroughECSExec).
		var doc policyDocument
		if err := json.Unmarshal([]byte(str(run.one(t, tRolePolicy, "task").Inputs, "policy")), &doc); err != nil {
			t.Fatal(err)
		}
		group := str(run.one(t, tLogGroup, "metrics").Outputs, "arn")
		for _, st := range doc.Statement {
			if st.Sid == "ExecChannels" {
				continue
			}
			for _, a := range st.Action {
				if !strings.HasPrefix(a, "logs:") || strings.Contains(a, "*") {
					t.Errorf("task role allows %s; want only logs actions", a)
				}
			}
			for _, r := range st.Resource {
				if r != group && r != group+":log-stream:*" {
					t.Errorf("task role reaches %s; want only %s", r, group)
				}
			}
		}

		// The admin port: no mapping (TestPortsLineUp), no rule, not the target group's.
		for _, r := range run.all(tSGRule) {
			if from, to := num(r.Inputs, "fromPort"), num(r.Inputs, "toPort"); from <= adminPort && adminPort <= to && str(r.Inputs, "protocol") == "tcp" {
				t.Errorf("%s opens the admin port %d", r.Name, adminPort)
			}
		}
		if num(run.one(t, tTargetGroup, "tasks").Inputs, "port") == adminPort {
			t.Error("the target group serves the admin port")
		}
	})
}

// Point 6: the alarms and the dashboard watch ASAP's own signals with the dimensions
// the sidecar gives them.
func TestAlarmsOnASAPSignals(t *testing.T) {
	dims := map[string][]string{}
	for _, d := range emfDeclarations() {
		for _, sel := range d.MetricSelectors {
			dims[strings.Trim(sel, "^$")] = d.Dimensions[0]
		}
	}
	eachStack(t, func(t *testing.T, run *stackRun) {
		want := map[string]string{"shed": metricShed, "stale-placements": metricCacheLookups}
		for _, up := range (Config{Upstreams: run.config["asap:upstreams"]}).upstreams() {
			want["upstream-"+up.Name+"-timeouts"] = metricUpstreamTimeouts
			want["upstream-"+up.Name+"-errors"] = metricUpstreamErrors
		}
		for name, metric := range want {
			a := run.one(t, tAlarm, name).Inputs
			if str(a, "namespace") != metricsNamespace || str(a, "metricName") != metric {
				t.Errorf("alarm %s watches %s %s, want %s %s", name, str(a, "namespace"), str(a, "metricName"), metricsNamespace, metric)
			}
			var keys []string
			for k := range obj(a, "dimensions") {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			wantKeys := slices.Sorted(slices.Values(dims[metric]))
			if !slices.Equal(keys, wantKeys) || obj(a, "dimensions")["Stack"] != run.stack {
				t.Errorf("alarm %s dimensions %v, want exactly the EMF dimensions %v with Stack=%s", name, obj(a, "dimensions"), wantKeys, run.stack)
			}
		}
		body := str(run.one(t, tDashboard, "asap").Inputs, "dashboardBody")
		for _, s := range []string{metricShed, metricCacheLookups, `"stale"`, "hit / (hit + miss + stale)", metricUpstreamTimeouts, metricUpstreamErrors} {
			if !strings.Contains(body, s) {
				t.Errorf("dashboard lacks %s", s)
			}
		}
	})
}

// Point 7: ASAP believes X-Forwarded-For only from the load balancer's subnets.
func TestTrustedProxies(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		var want []string
		for _, s := range run.all(tSubnet) {
			if strings.HasPrefix(s.Name, "public-") {
				want = append(want, str(s.Inputs, "cidrBlock"))
			}
		}
		if got := envOf(container(t, run, containerName))["ASAP_TRUSTED_PROXIES"]; got != strings.Join(want, ",") || len(want) != 2 {
			t.Errorf("ASAP_TRUSTED_PROXIES: got %q, want the public subnets %v", got, want)
		}
	})
	run := mustRun(t, "production", with(stackConfig(t, "production"),
		"asap:vpcId", "vpc-0existing", "asap:publicSubnetIds", `["subnet-pub-a","subnet-pub-b"]`,
		"asap:privateSubnetIds", `["subnet-priv-a","subnet-priv-b"]`))
	if got := envOf(container(t, run, containerName))["ASAP_TRUSTED_PROXIES"]; got != "172.31.0.0/20,172.31.16.0/20" {
		t.Errorf("existing VPC: ASAP_TRUSTED_PROXIES %q, want the looked-up public subnets", got)
	}
}

// Point 7: port 22 only with a key pair; Session Manager on the instance role.
func TestShellAccess(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		if slices.Contains(run.names(tSGRule), "instances-in-ssh") {
			t.Error("an SSH rule without a key pair")
		}
		if got := str(run.one(t, tAttachment, "instance-ssm").Inputs, "policyArn"); got != "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" {
			t.Errorf("instance-ssm attaches %q", got)
		}
	})
	run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:sshKeyName", "ops", "asap:sshCidrs", `["10.0.0.0/16"]`))
	if got := strs(run.one(t, tSGRule, "instances-in-ssh").Inputs, "cidrBlocks"); !slices.Equal(got, []string{"10.0.0.0/16"}) {
		t.Errorf("ssh rule sources %v", got)
	}
	if got := str(run.one(t, tLaunchTemplate, "instances").Inputs, "keyName"); got != "ops" {
		t.Errorf("key pair %q, want ops", got)
	}
}

// Point 7: with a domain and its hosted zone the url resolves: an alias to the load
// balancer.
func TestRoute53Alias(t *testing.T) {
	run := mustRun(t, "production", with(stackConfig(t, "production"),
		"asap:certificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/0d5e6a6c",
		"asap:domainName", "asap.example.com", "asap:hostedZoneId", "Z0123456789ABC"))
	rec := run.one(t, tRecord, "dns").Inputs
	alias := list(rec, "aliases")
	lb := run.one(t, tLB, "lb").Outputs
	if str(rec, "zoneId") != "Z0123456789ABC" || str(rec, "name") != "asap.example.com" || str(rec, "type") != "A" || len(alias) != 1 ||
		str(alias[0].(map[string]any), "name") != str(lb, "dnsName") || str(alias[0].(map[string]any), "zoneId") != mockLBZone {
		t.Errorf("record %v: want an A alias of asap.example.com to the load balancer", rec)
	}
	if u, err := url.Parse(fmt.Sprint(run.outputs["url"])); err != nil || u.Host != "asap.example.com" {
		t.Errorf("url %v, want https://asap.example.com", run.outputs["url"])
	}
	if names := mustRun(t, "production", stackConfig(t, "production")).names(tRecord); len(names) > 0 {
		t.Errorf("records %v without a domain", names)
	}
}

// Point 8: the memory alarm sits above what a healthy task uses: ASAP up to its
// GOMEMLIMIT, the sidecars up to their limits.
func TestMemoryAlarmAboveGoMemLimit(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		used := 0
		for _, d := range containerDefs(t, run) {
			if derefString(d.Name) == containerName {
				var mib int
				if _, err := fmt.Sscanf(envOf(d)["GOMEMLIMIT"], "%dMiB", &mib); err != nil {
					t.Fatalf("GOMEMLIMIT %q: %v", envOf(d)["GOMEMLIMIT"], err)
				}
				used += mib
			} else {
				used += derefInt32ptr(d.Memory)
			}
		}
		total := atoi(t, str(run.one(t, tTaskDef, "asap").Inputs, "memory"))
		threshold := run.one(t, tAlarm, "memory").Inputs["threshold"].(float64)
		if threshold*float64(total)/100 <= float64(used) {
			t.Errorf("memory alarm at %v%% of %d MiB fires below what a healthy task uses (%d MiB)", threshold, total, used)
		}
	})
}
