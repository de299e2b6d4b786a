package delivery

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// adminTools writes stand-ins of pulumi, aws and session-manager-plugin that answer
// as a staging stack with one running task does, with aws's ecs and ssm answers
// replaced by answers (a subcommand such as "ecs list-tasks" → a shell body), and
// log every call. It returns the directory to put first on PATH and the log.
func adminTools(t *testing.T, answers map[string]string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	aws := map[string]string{
		"sts get-caller-identity": "echo arn:aws:iam::123456789012:user/ops",
		"ecs list-tasks":          "echo arn:aws:ecs:eu-west-1:123456789012:task/asap-staging/0a1b2c3d4e5f",
		"ecs describe-tasks":      "printf '4e5f6a7b-runtime\\tTrue\\n'",
		"ssm start-session":       "exit 0",
	}
	for k, v := range answers {
		aws[k] = v
	}
	var cases strings.Builder
	for k, v := range aws {
		cases.WriteString("  \"" + k + "\") " + v + " ;;\n")
	}
	stubs := map[string]string{
		"aws": "case \"$1 $2\" in\n" + cases.String() + "esac",
		"pulumi": `case "$1 $2 $5" in
  "whoami  ") echo ops ;;
  "stack output clusterName") echo asap-staging ;;
  "stack output serviceName") echo asap ;;
  "stack output region") echo eu-west-1 ;;
  *) echo "pulumi: unexpected $*" >&2; exit 1 ;;
esac`,
		"session-manager-plugin": "exit 0",
	}
	for name, body := range stubs {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// make admin opens an SSM port-forwarding session into one running task of the
// stack (ECS Exec's ecs:<cluster>_<task>_<runtime id> target) to its admin port,
// 9090, on the local port asked for; it refuses, saying why, when there is no
// task, when the task runs without ECS Exec, or when the plugin is missing.
func TestMakeAdmin(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	session := `aws ssm start-session --target ecs:asap-staging_0a1b2c3d4e5f_4e5f6a7b-runtime --document-name AWS-StartPortForwardingSession --parameters {"portNumber":["9090"],"localPortNumber":["19090"]}`
	tests := []struct {
		name      string
		args      []string
		answers   map[string]string
		noPlugin  bool
		wantLast  string // the last call; "" when it must fail
		wantError string
	}{
		{name: "one running task", args: []string{"ENV=staging", "ADMIN_PORT=19090"}, wantLast: session},
		{name: "no running task", args: []string{"ENV=staging"}, answers: map[string]string{"ecs list-tasks": "echo None"},
			wantError: "admin.sh: no running task of asap on asap-staging"},
		{name: "ECS Exec off", args: []string{"ENV=staging"}, answers: map[string]string{"ecs describe-tasks": "printf 'r1\\tFalse\\n'"},
			wantError: "runs without ECS Exec (started before the stack enabled it): deploy ENV=staging again"},
		{name: "no plugin", args: []string{"ENV=staging"}, noPlugin: true, wantError: "the AWS Session Manager plugin is not installed"},
		{name: "a bad port", args: []string{"ENV=staging", "ADMIN_PORT=http"}, wantError: "LOCAL_PORT='http': want a port number"},
		{name: "not a stack", args: []string{"ENV=local"}, wantError: "ENV=local: want one of: staging production"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, log := adminTools(t, tt.answers)
			if tt.noPlugin {
				os.Remove(filepath.Join(dir, "session-manager-plugin"))
			}
			cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", root, "admin"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "PATH="+dir+":/usr/bin:/bin")
			out, err := cmd.CombinedOutput()
			calls, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
			if tt.wantError != "" {
				if err == nil || !strings.Contains(string(out), tt.wantError) {
					t.Fatalf("make admin %v: err %v, output:\n%s\nwant a failure saying %q", tt.args, err, out, tt.wantError)
				}
				if strings.Contains(string(calls), "ssm start-session") {
					t.Errorf("a session was started anyway:\n%s", calls)
				}
				return
			}
			if err != nil {
				t.Fatalf("make admin %v: %v\n%s", tt.args, err, out)
			}
			if got := lines[len(lines)-1]; got != tt.wantLast {
				t.Errorf("last call:\n got %s\nwant %s\nall calls:\n%s", got, tt.wantLast, calls)
			}
			for _, want := range []string{
				"aws ecs list-tasks --cluster asap-staging --service-name asap --desired-status RUNNING --query taskArns[0] --output text",
				"aws ecs describe-tasks --cluster asap-staging --tasks arn:aws:ecs:eu-west-1:123456789012:task/asap-staging/0a1b2c3d4e5f",
			} {
				if !strings.Contains(string(calls), want) {
					t.Errorf("no call %q in:\n%s", want, calls)
				}
			}
			if !strings.Contains(string(out), "Open http://127.0.0.1:19090/admin/ui/") {
				t.Errorf("make admin does not say where to open the page:\n%s", out)
			}
		})
	}
}
