// Package promote copies a verified image, by digest, from the repository it was built
// in into the repository of the stack it is promoted to, registry to registry, without
// a Docker daemon (go-containerregistry). The manifest is copied byte for byte, so the
// digest production runs is the digest staging verified, and the copy no longer
// depends on the source repository's lifecycle policy.
package promote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TagPrefix starts the tag a promoted digest gets in its new repository:
// promoted-<the digest's hex>. A repository's lifecycle policy expires untagged
// images; the tag also says, in the ECR console, which images came by promotion.
const TagPrefix = "promoted-"

// Target is the reference the source image has once promoted into repository: the
// repository, and the source's digest. repository is a full name
// (registry/repository), or a bare repository name in the source's registry.
func Target(source, repository string) (name.Digest, error) {
	src, err := name.NewDigest(source, name.StrictValidation)
	if err != nil {
		return name.Digest{}, fmt.Errorf("source %q: want REGISTRY/REPOSITORY@sha256:<64 hex> (a tag can move; a digest is what was verified): %w", source, err)
	}
	dst, err := destination(src, repository)
	if err != nil {
		return name.Digest{}, err
	}
	return dst.Digest(src.DigestStr()), nil
}

// destination resolves the destination repository.
func destination(src name.Digest, repository string) (name.Repository, error) {
	if repository == "" {
		return name.Repository{}, errors.New("no destination repository")
	}
	full := repository
	if !strings.Contains(repository, "/") {
		full = src.RegistryStr() + "/" + repository
	}
	dst, err := name.NewRepository(full, name.StrictValidation)
	if err != nil {
		return name.Repository{}, fmt.Errorf("destination repository %q: %w", repository, err)
	}
	return dst, nil
}

// Copy copies source (by digest) into repository under the tag TagPrefix+hex and
// returns its reference there by digest. A tag that exists already with that digest
// (a second promote of one release, a rollback to an earlier one) is left alone and
// nothing is pushed: promoted repositories have immutable tags. opts carry the
// registries' credentials and the context.
func Copy(ctx context.Context, source, repository string, opts ...remote.Option) (name.Digest, error) {
	target, err := Target(source, repository)
	if err != nil {
		return name.Digest{}, err
	}
	src, _ := name.NewDigest(source, name.StrictValidation) // Target checked it
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	tag := target.Context().Tag(TagPrefix + strings.TrimPrefix(src.DigestStr(), "sha256:"))

	existing, err := remote.Head(tag, opts...)
	switch {
	case err == nil && existing.Digest.String() == src.DigestStr():
		return target, nil
	case err == nil:
		return name.Digest{}, fmt.Errorf("%s exists with digest %s, not %s", tag, existing.Digest, src.DigestStr())
	case !isNotFound(err):
		return name.Digest{}, fmt.Errorf("look up %s: %w", tag, err)
	}

	desc, err := remote.Get(src, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("read %s: %w", src, err)
	}
	if err := remote.Push(tag, desc, opts...); err != nil {
		return name.Digest{}, fmt.Errorf("copy %s to %s: %w", src, tag, err)
	}
	copied, err := remote.Head(tag, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("look up %s after the copy: %w", tag, err)
	}
	if copied.Digest.String() != src.DigestStr() {
		return name.Digest{}, fmt.Errorf("%s has digest %s after the copy, want %s: the registry rewrote the manifest", tag, copied.Digest, src.DigestStr())
	}
	return target, nil
}

// isNotFound reports whether a registry answered that the manifest does not exist.
func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
