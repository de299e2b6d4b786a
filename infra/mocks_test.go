package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
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
	mockAccount = "123456789012"
	mockAMI     = "ami-0abc1234def567890"
)

var mockZones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// recorded is one resource the program registered, with its inputs as plain Go values.
type recorded struct {
	Type   string
	Name   string
	ID     string
	Inputs map[string]any
	// Outputs are what the mock answered (inputs plus computed attributes).
	Outputs map[string]any
	// Deps are the URNs the resource explicitly depends on.
	Deps []string
}

// mocks records every resource and answers the invokes the program makes.
type mocks struct {
	region string
	mu     sync.Mutex
	res    []recorded
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
	case "aws:lb/loadBalancer:LoadBalancer":
		out["dnsName"] = resource.NewProperty(name + "-1234567890." + m.region + ".elb.amazonaws.com")
		out["arnSuffix"] = resource.NewProperty("app/" + name + "/50dc6c495c0c9188")
	case "aws:lb/targetGroup:TargetGroup":
		out["arnSuffix"] = resource.NewProperty("targetgroup/" + name + "/73e2d6bc24d8a067")
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		out["primaryEndpointAddress"] = resource.NewProperty("master." + name + ".abcdef.use1.cache.amazonaws.com")
	case "aws:ec2/launchTemplate:LaunchTemplate":
		out["latestVersion"] = resource.NewProperty(1.0)
	case "aws:cloudwatch/logGroup:LogGroup":
		out["arn"] = resource.NewProperty(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", m.region, mockAccount, name))
	}

	var deps []string
	if args.RegisterRPC != nil {
		deps = args.RegisterRPC.GetDependencies()
	}
	m.mu.Lock()
	m.res = append(m.res, recorded{
		Type: args.TypeToken, Name: args.Name, ID: id,
		Inputs: args.Inputs.Mappable(), Outputs: out.Mappable(), Deps: deps,
	})
	m.mu.Unlock()
	return id, out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id":      m.region,
			"names":   mockZones,
			"zoneIds": []string{"use1-az1", "use1-az2", "use1-az4"},
		}), nil
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		if name != amiParameter {
			return nil, fmt.Errorf("mock: no SSM parameter %s", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"arn": "arn:aws:ssm:" + m.region + "::parameter" + name, "id": name, "name": name,
			"type": "String", "value": mockAMI, "insecureValue": mockAMI, "version": 1,
		}), nil
	}
	return nil, fmt.Errorf("mock: unexpected invoke %s", args.Token)
}

// stackRun is the result of running the program under mocks.
type stackRun struct {
	stack     string
	config    map[string]string
	resources []recorded
	outputs   map[string]string
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

// runStack runs the program under mocks with the given config and captures every
// resource and output.
func runStack(t *testing.T, stack string, cfg map[string]string) (*stackRun, error) {
	t.Helper()
	m := &mocks{region: cfg["aws:region"]}
	if m.region == "" {
		m.region = "us-east-1"
	}
	run := &stackRun{stack: stack, config: cfg, outputs: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := deploy(ctx)
		if err != nil {
			return err
		}
		for name, out := range outputs {
			wg.Add(1)
			out.ApplyT(func(v string) string {
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
