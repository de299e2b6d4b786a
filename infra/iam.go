package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// policyDocument is an IAM policy, built as Go values and marshalled, never hand-written.
type policyDocument struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

// policyStatement is one statement of a policyDocument.
type policyStatement struct {
	Sid       string           `json:"Sid,omitempty"`
	Effect    string           `json:"Effect"`
	Principal *policyPrincipal `json:"Principal,omitempty"`
	Action    []string         `json:"Action"`
	Resource  []string         `json:"Resource,omitempty"`
}

// policyPrincipal names the AWS services that may assume a role.
type policyPrincipal struct {
	Service []string `json:"Service"`
}

// JSON is the document as IAM takes it.
func (d policyDocument) JSON() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal policy document: %w", err)
	}
	return string(b), nil
}

// assumeRolePolicy lets one AWS service assume a role.
func assumeRolePolicy(service string) (pulumi.String, error) {
	doc, err := policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Effect:    "Allow",
			Principal: &policyPrincipal{Service: []string{service}},
			Action:    []string{"sts:AssumeRole"},
		}},
	}.JSON()
	return pulumi.String(doc), err
}

// newServiceRole creates a role that one AWS service may assume.
func newServiceRole(ctx *pulumi.Context, c Config, name, service, description string) (*iam.Role, error) {
	trust, err := assumeRolePolicy(service)
	if err != nil {
		return nil, err
	}
	return iam.NewRole(ctx, name, &iam.RoleArgs{
		Description:      pulumi.String(description),
		AssumeRolePolicy: trust,
		Tags:             tags(c, name),
	})
}

// AWS managed policies the instance role needs.
const (
	// ecsInstancePolicyArn lets the ECS agent register the instance and run tasks.
	ecsInstancePolicyArn = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
	// ssmInstancePolicyArn lets operators open Session Manager shells instead of SSH.
	ssmInstancePolicyArn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
)

// Roles are the IAM identities of the stack.
type Roles struct {
	InstanceProfile *iam.InstanceProfile
	// InstancePolicies are the instance role's policy attachments; an instance that
	// boots before them cannot register with ECS.
	InstancePolicies []pulumi.Resource
	Execution        *iam.Role
	Task             *iam.Role
}

// newRoles creates the instance role and profile, the task execution role (pull the
// task's image, write the task log group, read the task's secrets) and the task role,
// which may only write the metrics log group (the CloudWatch agent sidecar) and open
// ECS Exec's channels (make admin); ASAP itself calls no AWS API, and cannot read its
// secrets: ECS injects them.
func newRoles(ctx *pulumi.Context, c Config, pullRepositoryArn pulumi.StringOutput, logs *LogGroups, secrets []taskSecret) (*Roles, error) {
	instanceRole, err := newServiceRole(ctx, c, "instance", "ec2.amazonaws.com", "ASAP ECS container instances")
	if err != nil {
		return nil, err
	}
	var attachments []pulumi.Resource
	for _, p := range []struct{ name, arn string }{
		{"instance-ecs", ecsInstancePolicyArn},
		{"instance-ssm", ssmInstancePolicyArn},
	} {
		a, err := iam.NewRolePolicyAttachment(ctx, p.name, &iam.RolePolicyAttachmentArgs{
			Role:      instanceRole.Name,
			PolicyArn: pulumi.String(p.arn),
		})
		if err != nil {
			return nil, err
		}
		attachments = append(attachments, a)
	}
	profile, err := iam.NewInstanceProfile(ctx, "instance", &iam.InstanceProfileArgs{
		Role: instanceRole.Name,
		Tags: tags(c, "instance"),
	})
	if err != nil {
		return nil, err
	}

	execution, err := newServiceRole(ctx, c, "task-execution", "ecs-tasks.amazonaws.com", "ECS agent: pull the ASAP image, write its logs")
	if err != nil {
		return nil, err
	}
	arns := pulumi.StringArray{pullRepositoryArn, logs.Tasks.Arn}
	for _, s := range secrets {
		arns = append(arns, s.Arn)
	}
	executionPolicy := arns.ToStringArrayOutput().
		ApplyT(func(v []string) (string, error) { return executionPolicyDocument(v[0], v[1], v[2:]).JSON() }).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, "task-execution", &iam.RolePolicyArgs{
		Role:   execution.Name,
		Policy: executionPolicy,
	}); err != nil {
		return nil, err
	}

	task, err := newServiceRole(ctx, c, "task", "ecs-tasks.amazonaws.com", "ASAP tasks: the metrics sidecar writes its log group")
	if err != nil {
		return nil, err
	}
	taskPolicy := logs.Metrics.Arn.ApplyT(func(arn string) (string, error) { return taskPolicyDocument(arn).JSON() }).(pulumi.StringOutput)
	if _, err := iam.NewRolePolicy(ctx, "task", &iam.RolePolicyArgs{
		Role:   task.Name,
		Policy: taskPolicy,
	}); err != nil {
		return nil, err
	}
	return &Roles{InstanceProfile: profile, InstancePolicies: attachments, Execution: execution, Task: task}, nil
}

// executionPolicyDocument is what the ECS agent needs for the task's image repository
// (none for an image outside ECR), its log group and its secrets (these ARNs and no
// other; none without secrets).
func executionPolicyDocument(repositoryArn, logGroupArn string, secretArns []string) policyDocument {
	doc := policyDocument{Version: "2012-10-17"}
	if repositoryArn != "" {
		doc.Statement = append(doc.Statement,
			policyStatement{
				Sid:    "EcrLogin",
				Effect: "Allow",
				// GetAuthorizationToken has no resource-level permissions.
				Action:   []string{"ecr:GetAuthorizationToken"},
				Resource: []string{"*"},
			},
			policyStatement{
				Sid:      "PullImage",
				Effect:   "Allow",
				Action:   []string{"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"},
				Resource: []string{repositoryArn},
			})
	}
	doc.Statement = append(doc.Statement, policyStatement{
		Sid:      "WriteLogs",
		Effect:   "Allow",
		Action:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		Resource: []string{logGroupArn + ":log-stream:*"},
	})
	if len(secretArns) > 0 {
		doc.Statement = append(doc.Statement, policyStatement{
			Sid:      "ReadSecrets",
			Effect:   "Allow",
			Action:   []string{"secretsmanager:GetSecretValue"},
			Resource: secretArns,
		})
	}
	return doc
}

// taskPolicyDocument lets the CloudWatch agent write EMF log events into the metrics
// log group (CloudWatch turns them into metrics; no cloudwatch:PutMetricData needed).
func taskPolicyDocument(metricsLogGroupArn string) policyDocument {
	return policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Sid:      "WriteMetricsLogs",
			Effect:   "Allow",
			Action:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			Resource: []string{metricsLogGroupArn, metricsLogGroupArn + ":log-stream:*"},
		}, {
			// ECS Exec's channels (make admin): these actions take no resource ARN.
			Sid:      "ExecChannels",
			Effect:   "Allow",
			Action:   execChannelActions,
			Resource: []string{"*"},
		}},
	}
}

// execChannelActions are what the SSM agent ECS Exec runs in the task needs to open
// a Session Manager session (here, the port forward of `make admin`).
var execChannelActions = []string{
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}
