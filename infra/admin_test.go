package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The admin port is reached through ECS Exec (make admin): the service runs with it
// on, and the task role may open its Session Manager channels, those four actions
// and nothing more; no port mapping, security-group rule or listener opens the port
// (TestMetricsSidecar).
func TestAdminPortThroughECSExec(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		if !boolean(run.one(t, tService, "asap").Inputs, "enableExecuteCommand") {
			t.Error("the service runs without ECS Exec: make admin cannot reach a task")
		}
		var doc policyDocument
		if err := json.Unmarshal([]byte(str(run.one(t, tRolePolicy, "task").Inputs, "policy")), &doc); err != nil {
			t.Fatal(err)
		}
		exec, ok := statement(doc, "ExecChannels")
		want := []string{"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"}
		if !ok || exec.Effect != "Allow" || !slices.Equal(exec.Action, want) {
			t.Errorf("task role ExecChannels %+v: want Allow %v", exec, want)
		}
	})
}

// ASAP_ADMIN_TOKENS comes from a secret the stack generates ("ops:<64 letters and
// digits>"), kept once drawn, given to ASAP alone as a task-definition secret, and
// named by the adminTokensSecret output; it is never in the plain environment.
func TestAdminTokensSecret(t *testing.T) {
	eachStack(t, func(t *testing.T, run *stackRun) {
		version, arn := generatedSecret(t, run, "admin-tokens")
		value, isSecret := secretStr(version.Inputs, "secretString")
		name, token, ok := strings.Cut(value, ":")
		if !isSecret || !ok || name != adminTokenName || len(token) != generatedSecretLength || strings.ContainsAny(token, ",: ") {
			t.Errorf("stored value %q (a Pulumi secret: %v): want %s:<%d letters and digits>, kept secret in the state", value, isSecret, adminTokenName, generatedSecretLength)
		}
		def := container(t, run, containerName)
		if !slices.ContainsFunc(def.Secrets, func(s ecstypes.Secret) bool {
			return derefString(s.Name) == adminTokensEnv && derefString(s.ValueFrom) == arn
		}) {
			t.Errorf("ASAP's secrets %s lack %s from %s", secretsString(def.Secrets), adminTokensEnv, arn)
		}
		if _, inEnv := envOf(def)[adminTokensEnv]; inEnv {
			t.Errorf("%s is in the plain environment", adminTokensEnv)
		}
		if strings.Contains(str(run.one(t, tTaskDef, "asap").Inputs, "containerDefinitions"), token) {
			t.Error("the task definition holds the token itself")
		}
		if got := run.outputs["adminTokensSecret"]; got != arn {
			t.Errorf("output adminTokensSecret %v; want the secret's ARN %s", got, arn)
		}
	})
}
