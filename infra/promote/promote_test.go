package promote_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"asap/infra/promote"
	"asap/infra/promote/promotetest"
)

const password = "ecr-token"

var auth = remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: password}))

// pushed pushes a random image (or index) to host/asap-staging:src-1 as staging's
// pulumi up does, and returns it by digest.
func pushed(t *testing.T, host string, index bool) (string, v1.Hash) {
	t.Helper()
	tag, err := name.NewTag(host + "/asap-staging:src-1")
	if err != nil {
		t.Fatal(err)
	}
	var digest v1.Hash
	if index {
		idx, err := random.Index(256, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(tag, idx, auth); err != nil {
			t.Fatal(err)
		}
		digest, _ = idx.Digest()
	} else {
		img, err := random.Image(512, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(tag, img, auth); err != nil {
			t.Fatal(err)
		}
		digest, _ = img.Digest()
	}
	return host + "/asap-staging@" + digest.String(), digest
}

// The verified digest lands in production's repository with the same digest, tagged
// promoted-<hex> (an untagged image would expire), readable by digest and by tag.
func TestCopyKeepsTheDigest(t *testing.T) {
	for _, index := range []bool{false, true} {
		reg := promotetest.New(t, password)
		source, digest := pushed(t, reg.Host, index)
		got, err := promote.Copy(context.Background(), source, "asap-production", auth)
		if err != nil {
			t.Fatalf("index %v: %v", index, err)
		}
		want := reg.Host + "/asap-production@" + digest.String()
		if got.String() != want {
			t.Errorf("index %v: got %s, want %s", index, got, want)
		}
		tag := promotetest.Ref(t, reg.Host+"/asap-production:"+promote.TagPrefix+digest.Hex)
		for _, ref := range []name.Reference{got, tag} {
			desc, err := remote.Head(ref, auth)
			if err != nil || desc.Digest != digest {
				t.Errorf("index %v: %s: got %v, %v; want digest %s", index, ref, desc, err, digest)
			}
		}
		if plan, err := promote.Target(source, "asap-production"); err != nil || plan.String() != want {
			t.Errorf("Target: got %v, %v; want %s", plan, err, want)
		}
	}
}

// A second promote of the same digest (a rerun, a rollback to an earlier release)
// pushes nothing: the fake, as ECR with immutable tags, would refuse the tag.
func TestCopyTwicePushesOnce(t *testing.T) {
	reg := promotetest.New(t, password)
	source, _ := pushed(t, reg.Host, false)
	if _, err := promote.Copy(context.Background(), source, "asap-production", auth); err != nil {
		t.Fatal(err)
	}
	before := reg.ManifestPushes()
	if _, err := promote.Copy(context.Background(), source, "asap-production", auth); err != nil {
		t.Errorf("second promote: %v", err)
	}
	if got := reg.ManifestPushes(); got != before {
		t.Errorf("second promote pushed %d manifests", got-before)
	}

	// The fake is a real check: pushing the tag again is refused.
	tag := promotetest.Ref(t, reg.Host+"/asap-production:"+promote.TagPrefix+strings.TrimPrefix(source[strings.Index(source, "@")+1:], "sha256:"))
	img, _ := random.Image(64, 1)
	if err := remote.Write(tag, img, auth); err == nil || !strings.Contains(err.Error(), "TAG_INVALID") {
		t.Errorf("overwriting a promoted tag: got %v, want TAG_INVALID", err)
	}
}

func TestCopyRefuses(t *testing.T) {
	reg := promotetest.New(t, password)
	source, _ := pushed(t, reg.Host, false)
	tests := []struct {
		name, source, repository, want string
		opts                           []remote.Option
	}{
		{"a tag", reg.Host + "/asap-staging:src-1", "asap-production", "want REGISTRY/REPOSITORY@sha256", []remote.Option{auth}},
		{"no repository", source, "", "no destination repository", []remote.Option{auth}},
		{"a digest the registry lacks", reg.Host + "/asap-staging@sha256:" + strings.Repeat("0", 64), "asap-production", "MANIFEST_UNKNOWN", []remote.Option{auth}},
		{"wrong credentials", source, "asap-production", "401", []remote.Option{remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "expired"}))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := promote.Copy(context.Background(), tt.source, tt.repository, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// FuzzTarget: any -image and -repository (operator input) either gives a reference by
// the source's digest in the named repository, or an error; never a panic.
func FuzzTarget(f *testing.F) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	f.Add("123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@"+digest, "asap-production")
	f.Add("127.0.0.1:5000/asap-staging@"+digest, "127.0.0.1:5000/asap-production")
	f.Add("asap-staging:src-1", "asap-production")
	f.Add("x@sha256:", "")
	f.Fuzz(func(t *testing.T, source, repository string) {
		got, err := promote.Target(source, repository)
		if err != nil {
			return
		}
		src, err := name.NewDigest(source, name.StrictValidation)
		if err != nil {
			t.Fatalf("Target(%q) accepted a source that is not a digest reference: %v", source, err)
		}
		if got.DigestStr() != src.DigestStr() || !strings.HasSuffix(got.Context().RepositoryStr(), strings.TrimPrefix(repository, got.RegistryStr()+"/")) {
			t.Errorf("Target(%q, %q) = %s: want %s in %s", source, repository, got, src.DigestStr(), repository)
		}
	})
}
