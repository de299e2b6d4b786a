package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// keptImages is how many tagged images the repository keeps; older ones expire, so a
// rollback to any recent release stays possible.
const keptImages = 50

// lifecyclePolicy is an ECR lifecycle policy, marshalled from Go values.
type lifecyclePolicy struct {
	Rules []lifecycleRule `json:"rules"`
}

type lifecycleRule struct {
	RulePriority int                `json:"rulePriority"`
	Description  string             `json:"description"`
	Selection    lifecycleSelection `json:"selection"`
	Action       lifecycleAction    `json:"action"`
}

type lifecycleSelection struct {
	TagStatus   string `json:"tagStatus"`
	CountType   string `json:"countType"`
	CountUnit   string `json:"countUnit,omitempty"`
	CountNumber int    `json:"countNumber"`
}

type lifecycleAction struct {
	Type string `json:"type"`
}

// newRepository creates the stack's image repository: immutable tags (a tag always
// means one image, so a task definition is reproducible), scan on push, and a lifecycle
// policy.
func newRepository(ctx *pulumi.Context, c Config) (*ecr.Repository, error) {
	repo, err := ecr.NewRepository(ctx, "asap", &ecr.RepositoryArgs{
		Name:               pulumi.String(resourceName(c, "")),
		ImageTagMutability: pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
			ScanOnPush: pulumi.Bool(true),
		},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
		},
		Tags: tags(c, "asap"),
	}, fixedName)
	if err != nil {
		return nil, err
	}
	policy, err := json.Marshal(lifecyclePolicy{Rules: []lifecycleRule{
		{
			RulePriority: 1,
			Description:  "expire untagged images (failed or superseded pushes) after 7 days",
			Selection:    lifecycleSelection{TagStatus: "untagged", CountType: "sinceImagePushed", CountUnit: "days", CountNumber: 7},
			Action:       lifecycleAction{Type: "expire"},
		},
		{
			RulePriority: 2,
			Description:  fmt.Sprintf("keep the %d most recent images", keptImages),
			Selection:    lifecycleSelection{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: keptImages},
			Action:       lifecycleAction{Type: "expire"},
		},
	}})
	if err != nil {
		return nil, fmt.Errorf("marshal lifecycle policy: %w", err)
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, "asap", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}); err != nil {
		return nil, err
	}
	return repo, nil
}
