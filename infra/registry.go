package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// keptImages is how many images the repository keeps; older ones expire, so a
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

// newRepository creates the stack's image repository, scanned on push, with a lifecycle
// policy that keeps the keptImages most recent images (tagged or not: a task
// definition names a digest, and a digest whose tag moved on is still what an older
// task definition runs).
//
// Tag mutability follows asap:buildImage. A stack that builds tags each image with
// the digest of its inputs, and pulumi-docker pushes that tag again whenever the
// Image's inputs change without asking whether it exists (a revert, a redeploy after
// a hand rollback): ECR refuses any push to an existing IMMUTABLE tag, so its
// repository is MUTABLE. Nothing is lost: tasks run digests, never tags. A promoted
// stack's repository is written only by infra/promote, which pushes a tag only when
// it is missing, so it stays IMMUTABLE: a promoted-<digest> tag never moves.
func newRepository(ctx *pulumi.Context, c Config) (*ecr.Repository, error) {
	mutability := "IMMUTABLE"
	if c.BuildImage {
		mutability = "MUTABLE"
	}
	repo, err := ecr.NewRepository(ctx, "asap", &ecr.RepositoryArgs{
		Name:               pulumi.String(resourceName(c, "")),
		ImageTagMutability: pulumi.String(mutability),
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
	policy, err := json.Marshal(lifecyclePolicy{Rules: []lifecycleRule{{
		RulePriority: 1,
		Description:  fmt.Sprintf("keep the %d most recent images", keptImages),
		Selection:    lifecycleSelection{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: keptImages},
		Action:       lifecycleAction{Type: "expire"},
	}}})
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
