// Command rollout verifies a deployment of ASAP on ECS: the PRIMARY deployment runs
// the task definition just deployed, its rollout COMPLETED, a task of it is RUNNING
// and healthy in the target group, and the load balancer answers /readyz and /v2
// (and, with -require-fill, a /v2/ad that fills). A rollback, by the deployment
// circuit breaker or by a deployment alarm (named), is a failure. `make verify
// ENV=...` runs it with the stack's outputs:
//
//	pulumi stack output --stack staging --json > out/staging-outputs.json
//	go run ./infra/cmd/rollout -outputs out/staging-outputs.json -require-fill \
//	  -verified-image out/staging-verified-image
//
// The smoke placement is the stack's smokePkey output and the deployment alarms its
// deploymentAlarms output. Flags override the outputs, so it also runs without Pulumi:
//
//	go run ./infra/cmd/rollout -cluster asap-staging -service asap \
//	  -task-definition arn:aws:ecs:us-east-1:123456789012:task-definition/asap-staging:42 \
//	  -target-group arn:aws:elasticloadbalancing:... -url http://asap-staging-123.us-east-1.elb.amazonaws.com \
//	  -pkey demo-feed -timeout 15m
//
// AWS credentials and region come from the usual places (environment, shared
// config, SSO, instance role); -region or the stack's region output wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"asap/infra/rollout"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		outputsFile  = fs.String("outputs", "", "JSON of `pulumi stack output --json` (- reads stdin); the flags below override it")
		cluster      = fs.String("cluster", "", "ECS cluster name (default: the clusterName output)")
		service      = fs.String("service", "", "ECS service name (default: the serviceName output)")
		taskDef      = fs.String("task-definition", "", "task definition just deployed, ARN or family:revision (default: the taskDefinitionArn output)")
		targetGroup  = fs.String("target-group", "", "target group ARN (default: the targetGroupArn output)")
		url          = fs.String("url", "", "load balancer URL for the smoke requests (default: the url output)")
		region       = fs.String("region", "", "AWS region (default: the region output, else the SDK's usual sources)")
		pkey         = fs.String("pkey", "", "placement the smoke requests ask for (default: the smokePkey output); none checks /readyz only")
		requireFill  = fs.Bool("require-fill", false, "GET /v2/ad?pkey= must fill with an upstream's bid (staging, whose upstream is the demo ad server)")
		alarms       = fs.String("alarms", "", "comma-separated deployment alarm names (default: the deploymentAlarms output)")
		verified     = fs.String("verified-image", "", "after a verified rollout, write the image output (the digest verified) to this file")
		maxAPIErrors = fs.Int("max-api-errors", rollout.DefaultMaxAPIErrors, "give up after this many AWS API errors in a row (each after the SDK's retries)")
		timeout      = fs.Duration("timeout", rollout.DefaultTimeout, "give up after this long")
		pollInterval = fs.Duration("interval", rollout.DefaultPollInterval, "pause between two looks at the service")
		maxStopped   = fs.Int("max-stopped", rollout.DefaultMaxStoppedTasks, "fail once this many tasks of the deployed task definition stopped")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rollout: unexpected arguments %q", fs.Args())
	}

	var out rollout.Outputs
	if *outputsFile != "" {
		var err error
		if out, err = readOutputs(*outputsFile, stdin); err != nil {
			return fmt.Errorf("rollout: %w", err)
		}
	}
	pick := func(flagValue, output string) string {
		if flagValue != "" {
			return flagValue
		}
		return output
	}
	check := rollout.Check{
		Out:              stdout,
		Cluster:          pick(*cluster, out.ClusterName),
		Service:          pick(*service, out.ServiceName),
		TaskDefinition:   pick(*taskDef, out.TaskDefinitionARN),
		TargetGroupARN:   pick(*targetGroup, out.TargetGroupARN),
		URL:              pick(*url, out.URL),
		Pkey:             pick(*pkey, out.SmokePkey),
		RequireFill:      *requireFill,
		DeploymentAlarms: out.DeploymentAlarms,
		Timeout:          *timeout,
		PollInterval:     *pollInterval,
		MaxStoppedTasks:  *maxStopped,
		MaxAPIErrors:     *maxAPIErrors,
	}
	if *alarms != "" {
		check.DeploymentAlarms = strings.Split(*alarms, ",")
	}
	if *verified != "" && out.Image == "" {
		return errors.New("rollout: -verified-image needs the image output: give -outputs of a stack that has one")
	}

	var opts []func(*config.LoadOptions) error
	if r := pick(*region, out.Region); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("rollout: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return errors.New("rollout: no AWS region: pass -region, set AWS_REGION, or give -outputs with a region output")
	}
	check.ECS = ecs.NewFromConfig(cfg)
	check.ELB = elbv2.NewFromConfig(cfg)
	if err := check.Run(ctx); err != nil {
		return err
	}
	if *verified != "" {
		// Only a verified rollout leaves this file: production promotes what it names.
		if err := os.WriteFile(*verified, []byte(out.Image+"\n"), 0o644); err != nil {
			return fmt.Errorf("rollout: verified, but recording the image: %w", err)
		}
		fmt.Fprintf(stdout, "rollout: verified image %s recorded in %s\n", out.Image, *verified)
	}
	return nil
}

func readOutputs(path string, stdin io.Reader) (rollout.Outputs, error) {
	if path == "-" {
		return rollout.ReadOutputs(stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return rollout.Outputs{}, err
	}
	defer f.Close()
	o, err := rollout.ReadOutputs(f)
	if err != nil {
		return rollout.Outputs{}, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}
