package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Values the mocks answer as AWS would.
const (
	mockAccount  = "123456789012"
	mockAMI      = "ami-0abc1234def567890"
	mockArmAMI   = "ami-0arm64aaaabbbb1234"
	mockPassword = "mock-ecr-password"
	mockLBZone   = "Z35SXDOTRQ7X7K"
)

// mockZone is one zone of the region as DescribeAvailabilityZones lists it.
type mockZone struct{ name, id, optIn string }

// mockZones lists a Local Zone first: a program that does not filter on opt-in-status
// puts a subnet there.
var mockZones = []mockZone{
	{"us-east-1-bos-1a", "use1-bos1-az1", "opted-in"},
	{"us-east-1a", "use1-az1", "opt-in-not-required"},
	{"us-east-1b", "use1-az2", "opt-in-not-required"},
	{"us-east-1c", "use1-az4", "opt-in-not-required"},
}

// mockInstanceTypes are the instance types the tests use, as DescribeInstanceTypes
// reports them.
var mockInstanceTypes = map[string]struct {
	vcpus, memory int
	arch          string
}{
	"t3.medium":  {2, 4096, "x86_64"},
	"c6i.xlarge": {4, 8192, "x86_64"},
	"c7g.xlarge": {4, 8192, "arm64"},
}

// mockOfferings are the zones (and Local Zones) where EC2 offers each instance type, as
// DescribeInstanceTypeOfferings with location-type availability-zone lists them:
// production's c6i.xlarge is missing from the region's first zone.
var mockOfferings = map[string][]string{
	"t3.medium":  {"us-east-1-bos-1a", "us-east-1a", "us-east-1b", "us-east-1c"},
	"c6i.xlarge": {"us-east-1b", "us-east-1c"},
	"c7g.xlarge": {"us-east-1a", "us-east-1b"},
}

// mockSubnets are the existing subnets TestExistingNetwork names.
var mockSubnets = map[string]string{
	"subnet-pub-a": "172.31.0.0/20", "subnet-pub-b": "172.31.16.0/20",
}

// recorded is one resource the program registered, with its inputs as plain Go values.
type recorded struct {
	Type   string
	Name   string
	ID     string
	Inputs map[string]any
	// Outputs are what the mock answered (inputs plus computed attributes).
	Outputs map[string]any
	// Deps are the URNs the resource waits for (explicit DependsOn and inputs);
	// PropertyDeps the same per input property.
	Deps         []string
	PropertyDeps map[string][]string
	// DeleteBeforeReplace, Protect, RetainOnDelete, IgnoreChanges and Timeouts are the
	// resource options the engine applies.
	DeleteBeforeReplace bool
	Protect             bool
	RetainOnDelete      bool
	IgnoreChanges       []string
	Timeouts            [3]string // create, update, delete
}

// mocks records every resource and answers the invokes the program makes.
type mocks struct {
	region  string
	mu      sync.Mutex
	res     []recorded
	invokes []string
	// passwords counts GetRandomPassword calls: each answers a new value, as AWS does.
	passwords int
	// registry, when set, is ECR across runs: the image names pushed so far. A push
	// of a name it holds into a repository of this run with IMMUTABLE tags fails as
	// ECR fails it (pulumi-docker pushes whenever the Image's inputs change, and
	// never asks whether the tag exists).
	registry map[string]bool
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	short := args.TypeToken[strings.LastIndex(args.TypeToken, ":")+1:]
	id := fmt.Sprintf("%s-%s-id", strings.ToLower(short), args.Name)
	out := args.Inputs.Copy()
	name := args.Name
	if v, ok := out["name"]; ok && v.IsString() {
		name = v.StringValue()
	} else {
		out["name"] = resource.NewProperty(name)
	}
	arn := fmt.Sprintf("arn:aws:mock:%s:%s:%s/%s", m.region, mockAccount, strings.ToLower(short), name)
	out["arn"] = resource.NewProperty(arn)
	switch args.TypeToken {
	case "aws:ecr/repository:Repository":
		out["repositoryUrl"] = resource.NewProperty(fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", mockAccount, m.region, name))
		out["registryId"] = resource.NewProperty(mockAccount)
		out["arn"] = resource.NewProperty(fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", m.region, mockAccount, name))
	case "docker:index/image:Image":
		// As the provider: the pushed manifest's digest, in the repository's name.
		imageName := args.Inputs["imageName"].StringValue()
		if err := m.push(imageName); err != nil {
			return "", nil, err
		}
		repo, _, _ := strings.Cut(imageName[strings.LastIndex(imageName, "/"):], ":")
		sum := sha256.Sum256([]byte(imageName))
		out["repoDigest"] = resource.NewProperty(imageName[:strings.LastIndex(imageName, "/")] + repo + "@sha256:" + hex.EncodeToString(sum[:]))
	case "aws:lb/loadBalancer:LoadBalancer":
		out["dnsName"] = resource.NewProperty(name + "-1234567890." + m.region + ".elb.amazonaws.com")
		out["arnSuffix"] = resource.NewProperty("app/" + name + "/50dc6c495c0c9188")
		out["zoneId"] = resource.NewProperty(mockLBZone)
	case "aws:lb/targetGroup:TargetGroup":
		out["arnSuffix"] = resource.NewProperty("targetgroup/" + name + "/73e2d6bc24d8a067")
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		out["primaryEndpointAddress"] = resource.NewProperty("master." + name + ".abcdef.use1.cache.amazonaws.com")
	case "aws:ec2/launchTemplate:LaunchTemplate":
		out["latestVersion"] = resource.NewProperty(1.0)
	case "aws:cloudwatch/logGroup:LogGroup":
		out["arn"] = resource.NewProperty(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", m.region, mockAccount, name))
	case "aws:route53/record:Record":
		out["fqdn"] = args.Inputs["name"]
	case "aws:secretsmanager/secret:Secret":
		// A secret's id is its ARN, which ends in a random suffix.
		arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%sAbCdEf", m.region, mockAccount, args.Inputs["namePrefix"].StringValue())
		out["arn"] = resource.NewProperty(arn)
		id = arn
	case "aws:secretsmanager/secretVersion:SecretVersion":
		out["arn"] = args.Inputs["secretId"]
	}

	rec := recorded{
		Type: args.TypeToken, Name: args.Name, ID: id,
		Inputs: args.Inputs.Mappable(), Outputs: out.Mappable(), PropertyDeps: map[string][]string{},
	}
	if rpc := args.RegisterRPC; rpc != nil {
		rec.Deps = rpc.GetDependencies()
		for prop, deps := range rpc.GetPropertyDependencies() {
			rec.PropertyDeps[prop] = deps.GetUrns()
		}
		rec.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		rec.Protect = rpc.GetProtect()
		rec.RetainOnDelete = rpc.GetRetainOnDelete()
		rec.IgnoreChanges = rpc.GetIgnoreChanges()
		if ct := rpc.GetCustomTimeouts(); ct != nil {
			rec.Timeouts = [3]string{ct.GetCreate(), ct.GetUpdate(), ct.GetDelete()}
		}
	}
	m.mu.Lock()
	m.res = append(m.res, rec)
	m.mu.Unlock()
	return id, out, nil
}

// push records a push of imageName in the registry, refusing an existing tag in an
// immutable repository.
func (m *mocks) push(imageName string) error {
	if m.registry == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.res {
		url := str(r.Outputs, "repositoryUrl")
		if r.Type != "aws:ecr/repository:Repository" || !strings.HasPrefix(imageName, url+":") {
			continue
		}
		if m.registry[imageName] && str(r.Inputs, "imageTagMutability") == "IMMUTABLE" {
			return fmt.Errorf("tag invalid: The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable",
				strings.TrimPrefix(imageName, url+":"), str(r.Inputs, "name"))
		}
	}
	m.registry[imageName] = true
	return nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.invokes = append(m.invokes, args.Token)
	m.mu.Unlock()
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		optIn := map[string]bool{}
		for _, f := range listArg(args.Args, "filters") {
			if f.ObjectValue()["name"].StringValue() == "opt-in-status" {
				for _, v := range f.ObjectValue()["values"].ArrayValue() {
					optIn[v.StringValue()] = true
				}
			}
		}
		var names, ids []string
		for _, z := range mockZones {
			if len(optIn) == 0 || optIn[z.optIn] {
				names, ids = append(names, z.name), append(ids, z.id)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": m.region, "names": names, "zoneIds": ids}), nil
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		value := map[string]string{amiParameters["x86_64"]: mockAMI, amiParameters["arm64"]: mockArmAMI}[name]
		if value == "" {
			return nil, fmt.Errorf("mock: no SSM parameter %s", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"arn": "arn:aws:ssm:" + m.region + "::parameter" + name, "id": name, "name": name,
			"type": "String", "value": value, "insecureValue": value, "version": 1,
		}), nil
	case "aws:ec2/getInstanceType:getInstanceType":
		name := args.Args["instanceType"].StringValue()
		it, ok := mockInstanceTypes[name]
		if !ok {
			return nil, fmt.Errorf("mock: no instance type %s", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "instanceType": name, "defaultVcpus": it.vcpus, "memorySize": it.memory,
			"supportedArchitectures": []string{it.arch},
		}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.region, "userName": "AWS", "password": mockPassword, "expiresAt": "2030-01-01T00:00:00Z",
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:" + mockPassword)),
			"proxyEndpoint":      fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", mockAccount, m.region),
		}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		if lt := args.Args["locationType"]; !lt.IsString() || lt.StringValue() != "availability-zone" {
			return nil, fmt.Errorf("mock: getInstanceTypeOfferings without locationType availability-zone lists regions, got %v", lt)
		}
		var types []string
		for _, f := range listArg(args.Args, "filters") {
			if f.ObjectValue()["name"].StringValue() == "instance-type" {
				for _, v := range f.ObjectValue()["values"].ArrayValue() {
					types = append(types, v.StringValue())
				}
			}
		}
		var locations, instanceTypes, locationTypes []string
		for _, typ := range types {
			for _, z := range mockOfferings[typ] {
				locations, instanceTypes, locationTypes = append(locations, z), append(instanceTypes, typ), append(locationTypes, "availability-zone")
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.region, "locations": locations, "instanceTypes": instanceTypes, "locationTypes": locationTypes,
			"locationType": "availability-zone",
		}), nil
	case "aws:secretsmanager/getRandomPassword:getRandomPassword":
		m.mu.Lock()
		m.passwords++
		n := m.passwords
		m.mu.Unlock()
		length := 32 // Secrets Manager's default
		if v, ok := args.Args["passwordLength"]; ok && v.IsNumber() {
			length = int(v.NumberValue())
		}
		sum := sha256.Sum256([]byte(fmt.Sprint("password", n)))
		pw := strings.Repeat(hex.EncodeToString(sum[:]), 4)
		if v, ok := args.Args["excludePunctuation"]; !ok || !v.IsBool() || !v.BoolValue() {
			pw = `@/"!` + pw // Secrets Manager draws punctuation unless told not to
		}
		pw = pw[:min(length, len(pw))]
		return resource.NewPropertyMapFromMap(map[string]any{"id": "password", "randomPassword": pw}), nil
	case "aws:ec2/getSubnet:getSubnet":
		id := args.Args["id"].StringValue()
		cidr, ok := mockSubnets[id]
		if !ok {
			return nil, fmt.Errorf("mock: no subnet %s", id)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": id, "cidrBlock": cidr, "vpcId": "vpc-0existing"}), nil
	}
	return nil, fmt.Errorf("mock: unexpected invoke %s", args.Token)
}

// listArg is an invoke argument that is a list, or nothing.
func listArg(args resource.PropertyMap, key string) []resource.PropertyValue {
	if v, ok := args[resource.PropertyKey(key)]; ok && v.IsArray() {
		return v.ArrayValue()
	}
	return nil
}

// stackRun is the result of running the program under mocks.
type stackRun struct {
	stack     string
	config    map[string]string
	resources []recorded
	invokes   []string
	outputs   map[string]any
}

// loadStackConfig reads Pulumi.yaml and Pulumi.<stack>.yaml with Pulumi's own loaders
// and returns the config the CLI would hand the program: the stack's values, then the
// project's defaults for keys the stack does not set; lists as JSON.
func loadStackConfig(t *testing.T, stack string) map[string]string {
	t.Helper()
	project, err := workspace.LoadProject(filepath.Join("..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
	ps, err := workspace.LoadProjectStack(sink, project, filepath.Join("..", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.%s.yaml: %v", stack, err)
	}
	values, err := ps.Config.Decrypt(config.NopDecrypter)
	if err != nil {
		t.Fatalf("Pulumi.%s.yaml: %v", stack, err)
	}
	cfg := map[string]string{}
	for k, v := range values {
		cfg[k.String()] = v
	}
	for key, decl := range project.Config {
		full := "asap:" + key
		if _, set := cfg[full]; set || decl.Default == nil {
			continue
		}
		switch d := decl.Default.(type) {
		case string:
			cfg[full] = d
		default:
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatalf("Pulumi.yaml default of %s: %v", key, err)
			}
			cfg[full] = string(b)
		}
	}
	return cfg
}

// productionUpstreams stand in for the real ad servers an operator sets in production,
// which the committed stack file leaves out on purpose.
const productionUpstreams = "primary=https://bidder.example.com/openrtb2/auction,exchange-b=https://rtb.example.net/bid"

// promotedImage is a digest `make promote` copied into production's own repository and
// set as asap:image.
const promotedImage = mockAccount + ".dkr.ecr.us-east-1.amazonaws.com/asap-production@sha256:" +
	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

// stackConfig is a stack's committed config as `pulumi up` would see it once the
// operator has done what the stack file asks (production names its upstreams) and
// `make promote` has set production's asap:image.
func stackConfig(t *testing.T, stack string) map[string]string {
	t.Helper()
	cfg := loadStackConfig(t, stack)
	if stack == "production" {
		if _, set := cfg["asap:upstreams"]; !set {
			cfg["asap:upstreams"] = productionUpstreams
		}
		cfg["asap:image"] = promotedImage
	}
	return cfg
}

// runStack runs the program under mocks with the given config and captures every
// resource and output.
func runStack(t *testing.T, stack string, cfg map[string]string) (*stackRun, error) {
	t.Helper()
	return runStackWith(t, stack, cfg, &mocks{})
}

// runStackWith runs the program under the given mocks (a registry shared across runs).
func runStackWith(t *testing.T, stack string, cfg map[string]string, m *mocks) (*stackRun, error) {
	t.Helper()
	m.region = cfg["aws:region"]
	if m.region == "" {
		m.region = "us-east-1"
	}
	run := &stackRun{stack: stack, config: cfg, outputs: map[string]any{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := deploy(ctx)
		if err != nil {
			return err
		}
		for name, out := range outputs {
			wg.Add(1)
			out.ApplyT(func(v any) any {
				mu.Lock()
				run.outputs[name] = v
				mu.Unlock()
				wg.Done()
				return v
			})
		}
		return nil
	}, pulumi.WithMocks("asap", stack, m), func(ri *pulumi.RunInfo) { ri.Config = cfg })
	if err != nil {
		return nil, err
	}
	wg.Wait()
	run.resources = m.res
	run.invokes = m.invokes
	return run, nil
}

// mustRun runs a stack that must succeed.
func mustRun(t *testing.T, stack string, cfg map[string]string) *stackRun {
	t.Helper()
	run, err := runStack(t, stack, cfg)
	if err != nil {
		t.Fatalf("run %s: %v", stack, err)
	}
	return run
}

// with returns a copy of cfg with some keys set ("" deletes a key).
func with(cfg map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// all returns the resources of one type, sorted by name.
func (r *stackRun) all(typ string) []recorded {
	var out []recorded
	for _, res := range r.resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// one returns the resource of a type and name, failing unless exactly one exists.
func (r *stackRun) one(t *testing.T, typ, name string) recorded {
	t.Helper()
	var found []recorded
	for _, res := range r.all(typ) {
		if res.Name == name {
			found = append(found, res)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: got %d resources %s %q, want 1", r.stack, len(found), typ, name)
	}
	return found[0]
}

// names lists the names of the resources of one type.
func (r *stackRun) names(typ string) []string {
	var out []string
	for _, res := range r.all(typ) {
		out = append(out, res.Name)
	}
	return out
}

// Accessors for the plain values of recorded inputs (numbers arrive as float64).

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

func boolean(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func list(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

func strs(m map[string]any, key string) []string {
	var out []string
	for _, v := range list(m, key) {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// waitsFor reports whether a resource depends on the resource of a type and name,
// directly (the URNs the engine gets in RegisterResourceRequest.Dependencies).
func (r recorded) waitsFor(typ, name string) bool {
	return slices.ContainsFunc(r.Deps, func(urn string) bool { return strings.HasSuffix(urn, "::"+typ+"::"+name) })
}

// inputWaitsFor reports whether one input property depends on a resource.
func (r recorded) inputWaitsFor(prop, typ, name string) bool {
	return slices.ContainsFunc(r.PropertyDeps[prop], func(urn string) bool { return strings.HasSuffix(urn, "::"+typ+"::"+name) })
}
