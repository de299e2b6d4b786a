package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// taskSecret is one environment variable of ASAP's container that ECS fills from a
// Secrets Manager secret when it starts the container: the value never appears in the
// task definition, the stack's outputs or the logs. Adding one is a line in
// deploy's list: the container definition gets a `secrets` entry and the execution
// role's ReadSecrets statement gets its ARN (and nothing else may read it).
type taskSecret struct {
	// Env is the variable's name, such as ASAP_REDIS_PASSWORD.
	Env string
	// Arn is the secret whose current value (SecretString, whole) ECS injects. Take
	// it from the secret's SecretVersion, so a task starts only after a value exists.
	Arn pulumi.StringOutput
}

// secretRef is a container definition's `secrets` entry.
type secretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// secretRefs pairs the secrets' names with their resolved ARNs.
func secretRefs(secrets []taskSecret, arns []string) []secretRef {
	refs := []secretRef{}
	for i, s := range secrets {
		refs = append(refs, secretRef{Name: s.Env, ValueFrom: arns[i]})
	}
	return refs
}

// generatedSecretLength is the length of a generated secret: letters and digits only
// (ElastiCache refuses @, " and / in an AUTH token and wants 16 to 128 characters).
const generatedSecretLength = 64

// newGeneratedSecret creates a Secrets Manager secret holding a random value that
// Secrets Manager itself generates (GetRandomPassword), and returns its version. The
// value is drawn once: later updates draw a new one, which the version ignores, so
// the secret keeps its first value until its version is replaced. Read the value
// from the version's SecretString, never from the invoke, so every consumer sees the
// one that is stored.
//
// The stored value is valuePrefix followed by the random part ("" for the value alone).
func newGeneratedSecret(ctx *pulumi.Context, c Config, name, description, valuePrefix string, opts ...pulumi.ResourceOption) (*secretsmanager.SecretVersion, error) {
	random, err := secretsmanager.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordArgs{
		PasswordLength:     pulumi.IntRef(generatedSecretLength),
		ExcludePunctuation: pulumi.BoolRef(true),
		IncludeSpace:       pulumi.BoolRef(false),
	})
	if err != nil {
		return nil, err
	}
	secret, err := secretsmanager.NewSecret(ctx, name, &secretsmanager.SecretArgs{
		// Pulumi adds a random suffix: a deleted secret's name stays taken for its
		// recovery window.
		NamePrefix:  pulumi.String(resourceName(c, name) + "-"),
		Description: pulumi.String(description),
		Tags:        tags(c, name),
	}, opts...)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewSecretVersion(ctx, name, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: pulumi.ToSecret(pulumi.String(valuePrefix + random.RandomPassword)).(pulumi.StringOutput),
	}, append(opts, pulumi.IgnoreChanges([]string{"secretString"}))...)
}
