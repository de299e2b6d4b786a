package main

// Tests of issue 21: releases that survive the second deploy and production state
// that survives a mistake. Each runs the program under Pulumi's mocks with the
// committed stack files.

import (
	"encoding/json"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	tSecret        = "aws:secretsmanager/secret:Secret"
	tSecretVersion = "aws:secretsmanager/secretVersion:SecretVersion"
)

// A deploy that pushes a tag the repository already holds (a revert, or a plain
// deploy after a hand rollback: pulumi-docker pushes whenever the Image's inputs
// change) goes through: the building stack's repository is tag-mutable. The mock
// registry refuses such a push into an IMMUTABLE repository as ECR does.
func TestRepushedTagNeverFailsTheUpdate(t *testing.T) {
	registry := map[string]bool{}
	cfg := loadStackConfig(t, "staging")
	first, err := runStackWith(t, "staging", cfg, &mocks{registry: registry})
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if _, err := runStackWith(t, "staging", cfg, &mocks{registry: registry}); err != nil {
		t.Errorf("second deploy of the same tree (the tag exists): %v", err)
	}
	name := str(first.one(t, tDockerImage, "asap").Inputs, "imageName")
	if !registry[name] {
		t.Fatalf("the mock registry did not see the push of %s", name)
	}
	if got := str(first.one(t, tRepo, "asap").Inputs, "imageTagMutability"); got != "MUTABLE" {
		t.Errorf("building stack's repository: got %q tags, want MUTABLE (tasks run digests)", got)
	}

	// The mock is a real check: the same second push into an immutable repository fails.
	immutable := &mocks{registry: map[string]bool{name: true}}
	immutable.res = []recorded{{Type: tRepo, Inputs: map[string]any{"imageTagMutability": "IMMUTABLE", "name": "asap-staging"},
		Outputs: map[string]any{"repositoryUrl": strings.SplitN(name, ":", 2)[0]}}}
	if err := immutable.push(name); err == nil || !strings.Contains(err.Error(), "cannot be overwritten") {
		t.Errorf("mock push of an existing tag into an IMMUTABLE repository: got %v, want ECR's refusal", err)
	}
}

// Every image stays as long as the newest releases: one rule, over any image (tagged
// or not: a moved tag leaves a digest an older task definition may run), that keeps
// the most recent ones; a promoted stack's repository never moves a tag.
func TestRepositoryKeepsWhatTasksRun(t *testing.T) {
	want := map[string]string{"staging": "MUTABLE", "production": "IMMUTABLE"}
	eachStack(t, func(t *testing.T, run *stackRun) {
		if got := str(run.one(t, tRepo, "asap").Inputs, "imageTagMutability"); got != want[run.stack] {
			t.Errorf("tag mutability: got %q, want %q", got, want[run.stack])
		}
		var policy lifecyclePolicy
		if err := json.Unmarshal([]byte(str(run.one(t, tLifecycle, "asap").Inputs, "policy")), &policy); err != nil {
			t.Fatal(err)
		}
		wantRules := []lifecycleRule{{RulePriority: 1, Description: "keep the 50 most recent images",
			Selection: lifecycleSelection{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: keptImages},
			Action:    lifecycleAction{Type: "expire"}}}
		if !slices.Equal(policy.Rules, wantRules) {
			t.Errorf("lifecycle rules: got %+v, want %+v (no rule may expire an untagged digest by age)", policy.Rules, wantRules)
		}
	})
}

// Production never builds: without a promoted asap:image it stops and names the key,
// and with one it runs that digest from its own repository, which the execution role
// may pull from.
func TestProductionRunsOnlyAPromotedDigest(t *testing.T) {
	cfg := with(stackConfig(t, "production"), "asap:image", "")
	_, err := runStack(t, "production", cfg)
	if err == nil || !strings.Contains(err.Error(), "asap:image: required: asap:buildImage is false") {
		t.Errorf("production without asap:image: got %v, want a refusal naming asap:image", err)
	}
	if got := loadStackConfig(t, "production")["asap:buildImage"]; got != "false" {
		t.Errorf("Pulumi.production.yaml: asap:buildImage = %q, want false", got)
	}

	run := mustRun(t, "production", stackConfig(t, "production"))
	if names := run.names(tDockerImage); len(names) > 0 {
		t.Errorf("production builds %v", names)
	}
	repoURL := str(run.one(t, tRepo, "asap").Outputs, "repositoryUrl")
	image := derefString(container(t, run, containerName).Image)
	if image != promotedImage || !strings.HasPrefix(image, repoURL+"@sha256:") {
		t.Errorf("production runs %q, want the promoted %q in its own repository %s", image, promotedImage, repoURL)
	}
	var doc policyDocument
	if err := json.Unmarshal([]byte(str(run.one(t, tRolePolicy, "task-execution").Inputs, "policy")), &doc); err != nil {
		t.Fatal(err)
	}
	own := str(run.one(t, tRepo, "asap").Outputs, "arn")
	if i := slices.IndexFunc(doc.Statement, func(s policyStatement) bool { return s.Sid == "PullImage" }); i < 0 || !slices.Equal(doc.Statement[i].Resource, []string{own}) {
		t.Errorf("execution policy %+v: want PullImage on %s only", doc.Statement, own)
	}
}

// Production's Redis, its AUTH secret and its load balancer are protected from
// deletion and replacement, Redis keeps snapshots and a final one, and the load
// balancer has AWS's deletion protection; staging stays disposable. Stack config,
// not the stack's name, decides.
func TestProductionStateIsProtected(t *testing.T) {
	type want struct {
		protect     bool
		retention   int
		final       string
		lbDeletion  bool
		snapshotWin string
	}
	wants := map[string]want{
		"staging":    {},
		"production": {protect: true, retention: 7, final: "asap-production-final", lbDeletion: true, snapshotWin: redisSnapshotWindow},
	}
	eachStack(t, func(t *testing.T, run *stackRun) {
		w := wants[run.stack]
		for _, r := range []recorded{run.one(t, tRedis, "redis"), run.one(t, tLB, "lb"), run.one(t, tSecret, "redis-auth"), run.one(t, tSecretVersion, "redis-auth")} {
			if r.Protect != w.protect {
				t.Errorf("%s %s: protect %v, want %v", r.Type, r.Name, r.Protect, w.protect)
			}
		}
		rg := run.one(t, tRedis, "redis").Inputs
		if got := num(rg, "snapshotRetentionLimit"); got != w.retention {
			t.Errorf("snapshot retention: got %d days, want %d", got, w.retention)
		}
		if got := str(rg, "snapshotWindow"); got != w.snapshotWin {
			t.Errorf("snapshot window: got %q, want %q", got, w.snapshotWin)
		}
		if got := str(rg, "finalSnapshotIdentifier"); got != w.final {
			t.Errorf("final snapshot: got %q, want %q", got, w.final)
		}
		if got := boolean(run.one(t, tLB, "lb").Inputs, "enableDeletionProtection"); got != w.lbDeletion {
			t.Errorf("load balancer deletion protection: got %v, want %v", got, w.lbDeletion)
		}
		// Nothing else is protected: a protected resource needs an operator to remove.
		for _, r := range run.resources {
			if r.Protect && !slices.Contains([]string{tRedis, tLB, tSecret, tSecretVersion}, r.Type) {
				t.Errorf("%s %s is protected", r.Type, r.Name)
			}
		}
	})
	// The keys, not the stack's name: staging with production's keys is protected.
	run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:protect", "true", "asap:albDeletionProtection", "true"))
	if !run.one(t, tRedis, "redis").Protect || !boolean(run.one(t, tLB, "lb").Inputs, "enableDeletionProtection") {
		t.Error("staging with asap:protect and asap:albDeletionProtection is not protected")
	}
}

// statement returns a policy's statement by Sid.
func statement(doc policyDocument, sid string) (policyStatement, bool) {
	i := slices.IndexFunc(doc.Statement, func(s policyStatement) bool { return s.Sid == sid })
	if i < 0 {
		return policyStatement{}, false
	}
	return doc.Statement[i], true
}

// generatedSecret checks what every secret the stack draws shares (taskSecret):
// the stack's name prefix, a version of that secret that keeps its first value
// (and an operator's edits) across updates. It returns the version and the
// secret's ARN.
func generatedSecret(t *testing.T, run *stackRun, name string) (recorded, string) {
	t.Helper()
	secret := run.one(t, tSecret, name)
	version := run.one(t, tSecretVersion, name)
	if !strings.HasPrefix(str(secret.Inputs, "namePrefix"), "asap-"+run.stack+"-"+name+"-") {
		t.Errorf("%s: secret name prefix %q", name, str(secret.Inputs, "namePrefix"))
	}
	if !version.inputWaitsFor("secretId", tSecret, name) {
		t.Errorf("%s: the secret version is not the secret's", name)
	}
	if !slices.Equal(version.IgnoreChanges, []string{"secretString"}) {
		t.Errorf("%s: secret version ignores %v, want [secretString]: every update would draw a new value; the first one (and an operator's edits) stay", name, version.IgnoreChanges)
	}
	return version, str(secret.Outputs, "arn")
}

// Redis requires AUTH with a token Secrets Manager generates and keeps; the group and
// ASAP read it from the stored version (not from a fresh draw), ASAP as a task
// definition secret, which only the execution role may read.
func TestRedisAuth(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		version, arn := generatedSecret(t, run, "redis-auth")
		if !slices.Contains(run.invokes, "aws:secretsmanager/getRandomPassword:getRandomPassword") {
			t.Error("the token is not drawn by Secrets Manager's GetRandomPassword")
		}

		rg := run.one(t, tRedis, "redis")
		token, tokenSecret := secretStr(rg.Inputs, "authToken")
		stored, storedSecret := secretStr(version.Inputs, "secretString")
		if token == "" || token != stored {
			t.Errorf("replication group auth token %q, want the stored secret's value %q", token, stored)
		}
		if !tokenSecret || !storedSecret {
			t.Errorf("the token is in the state in plain text (auth token secret: %v, secret string secret: %v)", tokenSecret, storedSecret)
		}
		if !rg.inputWaitsFor("authToken", tSecretVersion, "redis-auth") {
			t.Error("the group's auth token does not come from the secret version")
		}
		// ElastiCache: 16 to 128 printable characters, none of @ " /.
		if len(token) < 16 || len(token) > 128 || strings.ContainsAny(token, `@"/ `) {
			t.Errorf("auth token of %d characters %q: ElastiCache wants 16..128 without @ \" / or spaces", len(token), token)
		}
		if !boolean(rg.Inputs, "transitEncryptionEnabled") {
			t.Error("AUTH without transit encryption: ElastiCache refuses it")
		}
		if got := str(rg.Inputs, "authTokenUpdateStrategy"); got != "ROTATE" {
			t.Errorf("auth token update strategy %q, want ROTATE (old and new token both valid during a change)", got)
		}

		def := container(t, run, containerName)
		adminArn := str(run.one(t, tSecret, "admin-tokens").Outputs, "arn")
		want := []ecstypes.Secret{{Name: ptr(redisPasswordEnv), ValueFrom: ptr(arn)}, {Name: ptr(adminTokensEnv), ValueFrom: ptr(adminArn)}}
		if !slices.EqualFunc(def.Secrets, want, func(a, b ecstypes.Secret) bool {
			return derefString(a.Name) == derefString(b.Name) && derefString(a.ValueFrom) == derefString(b.ValueFrom)
		}) {
			t.Errorf("ASAP's secrets: got %s, want %s from %s and %s from %s", secretsString(def.Secrets), redisPasswordEnv, arn, adminTokensEnv, adminArn)
		}
		if _, inEnv := envOf(def)[redisPasswordEnv]; inEnv {
			t.Errorf("%s is in the plain environment", redisPasswordEnv)
		}
		if strings.Contains(str(run.one(t, tTaskDef, "asap").Inputs, "containerDefinitions"), token) {
			t.Error("the task definition holds the token itself")
		}
		for _, name := range []string{demoAdServerName, metricsContainerName} {
			if c, ok := findContainer(t, run, name); ok && len(c.Secrets) > 0 {
				t.Errorf("container %s gets secrets %s", name, secretsString(c.Secrets))
			}
		}
		if !run.one(t, tTaskDef, "asap").inputWaitsFor("containerDefinitions", tSecretVersion, "redis-auth") {
			t.Error("the task definition does not wait for the secret's value")
		}

		// Only the execution role reads it, that secret and nothing else.
		for _, role := range []string{"task-execution", "task"} {
			var doc policyDocument
			if err := json.Unmarshal([]byte(str(run.one(t, tRolePolicy, role).Inputs, "policy")), &doc); err != nil {
				t.Fatal(err)
			}
			read, ok := statement(doc, "ReadSecrets")
			if role == "task" {
				if strings.Contains(str(run.one(t, tRolePolicy, role).Inputs, "policy"), "secretsmanager") {
					t.Errorf("the task role may use Secrets Manager: %+v", doc)
				}
				continue
			}
			if !ok || !slices.Equal(read.Action, []string{"secretsmanager:GetSecretValue"}) || !slices.Equal(read.Resource, []string{arn, adminArn}) {
				t.Errorf("execution role ReadSecrets %+v: want secretsmanager:GetSecretValue on %s and %s only", read, arn, adminArn)
			}
		}
	})

	// ElastiCache takes a token only with TLS.
	_, err := runStack(t, "staging", with(stackConfig(t, "staging"), "asap:redisTransitEncryption", "false"))
	if err == nil || !strings.Contains(err.Error(), "asap:redisTransitEncryption") {
		t.Errorf("AUTH without TLS: got %v, want a refusal naming asap:redisTransitEncryption", err)
	}
	// An existing Redis: no AUTH secret, no secrets entry but the admin tokens.
	run := mustRun(t, "staging", with(stackConfig(t, "staging"), "asap:redisUrl", "rediss://redis.internal:6379/0"))
	secrets := container(t, run, containerName).Secrets
	if slices.Contains(run.names(tSecret), "redis-auth") || len(secrets) != 1 || derefString(secrets[0].Name) != adminTokensEnv {
		t.Errorf("an existing Redis still gets a generated AUTH secret: secrets %v, task secrets %s", run.names(tSecret), secretsString(secrets))
	}
}

// secretStr is a recorded input that may be a Pulumi secret, and whether it is one.
func secretStr(m map[string]any, key string) (string, bool) {
	if s, ok := m[key].(*resource.Secret); ok && s.Element.IsString() {
		return s.Element.StringValue(), true
	}
	return str(m, key), false
}

// ptr returns a pointer to s.
func ptr(s string) *string { return &s }

// secretsString shows a container's secrets.
func secretsString(secrets []ecstypes.Secret) string {
	var out []string
	for _, s := range secrets {
		out = append(out, derefString(s.Name)+"="+derefString(s.ValueFrom))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// The metrics sidecar comes back when it dies, and the heartbeat alarm fires when
// ASAP's metrics stop arriving (missing data is the failure, so it is breaching),
// while the other alarms on ASAP's metrics stay quiet on missing data.
func TestMetricsSidecarRestartsAndHeartbeat(t *testing.T) {
	service := metricNamesInService(t)
	eachStack(t, func(t *testing.T, run *stackRun) {
		agent := container(t, run, metricsContainerName)
		rp := agent.RestartPolicy
		if rp == nil || rp.Enabled == nil || !*rp.Enabled {
			t.Fatalf("metrics sidecar restart policy %+v: want enabled", rp)
		}
		if p := derefInt32(rp.RestartAttemptPeriod); p < 60 || p > 1800 {
			t.Errorf("restartAttemptPeriod %d: ECS takes 60..1800", p)
		}
		if agent.Essential == nil || *agent.Essential {
			t.Error("the metrics sidecar is essential: its death would stop the ad path")
		}

		hb := run.one(t, tAlarm, "metrics-heartbeat").Inputs
		checks := []struct{ field, got, want string }{
			{"namespace", str(hb, "namespace"), metricsNamespace},
			{"metricName", str(hb, "metricName"), metricInFlight},
			{"statistic", str(hb, "statistic"), "SampleCount"},
			{"comparisonOperator", str(hb, "comparisonOperator"), "LessThanThreshold"},
			{"treatMissingData", str(hb, "treatMissingData"), "breaching"},
			{"Stack dimension", str(obj(hb, "dimensions"), "Stack"), run.stack},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("heartbeat %s: got %q, want %q", c.field, c.got, c.want)
			}
		}
		if len(obj(hb, "dimensions")) != 1 || num(hb, "threshold") != 1 {
			t.Errorf("heartbeat dimensions %v threshold %v: want Stack only, below 1 sample", obj(hb, "dimensions"), hb["threshold"])
		}
		if !slices.Contains(service, str(hb, "metricName")) {
			t.Errorf("heartbeat metric %s is not one the service registers", str(hb, "metricName"))
		}
		shipped := false
		for _, d := range emfDeclarations() {
			shipped = shipped || (len(d.Dimensions) == 1 && slices.Equal(d.Dimensions[0], []string{"Stack"}) && slices.Contains(d.MetricSelectors, "^"+metricInFlight+"$"))
		}
		if !shipped {
			t.Errorf("the sidecar does not ship %s with the Stack dimension", metricInFlight)
		}
		for _, a := range run.all(tAlarm) {
			if a.Name != "metrics-heartbeat" && str(a.Inputs, "treatMissingData") != "notBreaching" {
				t.Errorf("alarm %s treats missing data as %q", a.Name, str(a.Inputs, "treatMissingData"))
			}
		}
	})
}

// committedStacks names the stacks TestCommittedStackFiles checks; `make preflight
// ENV=production` passes production, whose committed file the pipeline deploys.
var committedStacks = flag.String("committed-stacks", "staging", "comma-separated stacks whose committed Pulumi.<stack>.yaml must deploy as it is")

// The committed stack files are what a clean checkout deploys (the pipeline's): the
// program accepts them as they are, with only asap:image set as `make promote` sets
// it for a stack that never builds. A missing key is named, with the file to commit.
func TestCommittedStackFiles(t *testing.T) {
	for _, stack := range strings.Split(*committedStacks, ",") {
		t.Run(stack, func(t *testing.T) {
			cfg := loadStackConfig(t, stack)
			if cfg["asap:buildImage"] == "false" && cfg["asap:image"] == "" {
				cfg["asap:image"] = strings.Replace(promotedImage, "asap-production", "asap-"+stack, 1)
			}
			if _, err := runStack(t, stack, cfg); err != nil {
				t.Fatalf("Pulumi.%s.yaml as committed: %v", stack, err)
			}
		})
	}
	// The message a missing key gives says what to commit.
	_, err := runStack(t, "production", with(stackConfig(t, "production"), "asap:upstreams", ""))
	if err == nil || !regexp.MustCompile(`missing required key asap:upstreams .*then commit Pulumi\.production\.yaml`).MatchString(err.Error()) {
		t.Errorf("missing upstreams: got %v, want the key and the file to commit", err)
	}
}

// findContainer is the task's container of that name, if the task has one.
func findContainer(t *testing.T, run *stackRun, name string) (ecstypes.ContainerDefinition, bool) {
	t.Helper()
	for _, d := range containerDefs(t, run) {
		if derefString(d.Name) == name {
			return d, true
		}
	}
	return ecstypes.ContainerDefinition{}, false
}
