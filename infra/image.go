package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Image is what the task runs.
type Image struct {
	// Ref is the image by digest: the prebuilt asap:image, or the RepoDigest of the
	// image this update built and pushed.
	Ref pulumi.StringOutput
	// PullRepositoryArn is the ECR repository the execution role may pull from: the
	// stack's own for a built image, the named one for a prebuilt ECR image, empty
	// for an image outside ECR (no pull rights needed).
	PullRepositoryArn pulumi.StringOutput
}

// buildContextDir is the image's build context, relative to the repository root; the
// root's .dockerignore keeps everything else out of it.
const buildContextDir = "service"

// ecrImagePattern splits an ECR image reference into account, region and repository.
var ecrImagePattern = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^@]+)@`)

// newImage returns the prebuilt image named in config, or builds docker/<stack>.Dockerfile
// with the repository root as context and pushes it to the stack's repository, tagged
// with the digest of its inputs. The push may repeat a tag that exists (a revert): the
// building stack's repository is tag-mutable for that reason (newRepository), and the
// task runs the digest the push returns. configure refuses a stack with
// asap:buildImage false and no asap:image, so such a stack never reaches the build.
func newImage(ctx *pulumi.Context, c Config, repo *ecr.Repository, platform string) (*Image, error) {
	if c.Image != "" {
		arn := ""
		if m := ecrImagePattern.FindStringSubmatch(c.Image); m != nil {
			arn = fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", m[2], m[1], m[3])
		}
		return &Image{
			Ref:               pulumi.String(c.Image).ToStringOutput(),
			PullRepositoryArn: pulumi.String(arn).ToStringOutput(),
		}, nil
	}

	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dockerfile := filepath.Join(root, "docker", c.Stack+".Dockerfile")
	tag, err := contentTag(dockerfile, filepath.Join(root, buildContextDir))
	if err != nil {
		return nil, fmt.Errorf("image for stack %s (no asap:image set): %w", c.Stack, err)
	}
	token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{RegistryId: repo.RegistryId})
	img, err := docker.NewImage(ctx, "asap", &docker.ImageArgs{
		ImageName: pulumi.Sprintf("%s:%s", repo.RepositoryUrl, tag),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.String(root),
			Dockerfile: pulumi.String(dockerfile),
			Platform:   pulumi.String(platform),
			Args:       pulumi.StringMap{"VERSION": pulumi.String(tag)},
		},
		Registry: &docker.RegistryArgs{
			Server:   repo.RepositoryUrl,
			Username: token.UserName(),
			Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
		},
	})
	if err != nil {
		return nil, err
	}
	return &Image{Ref: img.RepoDigest, PullRepositoryArn: repo.Arn}, nil
}

// repoRoot is the repository root relative to the working directory: `pulumi up` runs
// the program in infra/ (Pulumi.yaml's main), as do its tests.
func repoRoot() (string, error) {
	for _, dir := range []string{"..", "."} {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("cannot find the repository root (Pulumi.yaml) from the working directory; run from infra/ or the root")
}

// contentTag is a tag naming the image's inputs: the Dockerfile and the build context
// (without the tests and profiles the .dockerignore leaves out). Equal inputs give the
// same tag, so an unchanged tree rebuilds nothing.
func contentTag(dockerfile, contextDir string) (string, error) {
	h := sha256.New()
	add := func(path, name string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", name)
		_, err = io.Copy(h, f)
		return err
	}
	if err := add(dockerfile, "Dockerfile"); err != nil {
		return "", fmt.Errorf("read %s: %w", dockerfile, err)
	}
	err := filepath.WalkDir(contextDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || ignoredInContext(d.Name()) {
			return err
		}
		rel, err := filepath.Rel(contextDir, path)
		if err != nil {
			return err
		}
		return add(path, filepath.ToSlash(rel))
	})
	if err != nil {
		return "", fmt.Errorf("hash build context %s: %w", contextDir, err)
	}
	return "src-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ignoredInContext mirrors the root .dockerignore's exclusions inside service/.
func ignoredInContext(name string) bool {
	return strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".prof") || strings.HasSuffix(name, ".test")
}
