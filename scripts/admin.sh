#!/usr/bin/env bash
# admin.sh ENV [LOCAL_PORT]: `make admin`. Opens the admin port (9090) of one running
# ASAP task of the ENV stack on 127.0.0.1:LOCAL_PORT (default 9090) of this machine, so
# an operator reaches the admin API and the ad-ops page (/admin/ui/) without making
# them public: an AWS Systems Manager port-forwarding session into the task through
# ECS Exec (target ecs:<cluster>_<task id>_<container runtime id>). Nothing listens
# on the instances or the load balancer for it; every session is authorized by IAM
# (ssm:StartSession on the task) and recorded by CloudTrail. Ctrl-C ends it.
#
# Needs: the AWS CLI with the Session Manager plugin (session-manager-plugin), a
# Pulumi login that reads the stack's outputs, and an identity allowed
# ecs:ListTasks, ecs:DescribeTasks and ssm:StartSession (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."

env=${1:-}
port=${2:-9090}
[[ "$env" == staging || "$env" == production ]] || { echo "admin.sh: ENV='$env': want staging or production" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || { echo "admin.sh: LOCAL_PORT='$port': want a port number" >&2; exit 2; }
if ! command -v session-manager-plugin >/dev/null 2>&1; then
  echo "admin.sh: the AWS Session Manager plugin is not installed (aws ssm start-session needs it): https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html" >&2
  exit 1
fi

output() { pulumi stack output --stack "$env" "$1"; }
cluster=$(output clusterName)
service=$(output serviceName)
export AWS_REGION=$(output region)

task=$(aws ecs list-tasks --cluster "$cluster" --service-name "$service" --desired-status RUNNING \
  --query 'taskArns[0]' --output text)
if [[ -z "$task" || "$task" == None ]]; then
  echo "admin.sh: no running task of $service on $cluster" >&2
  exit 1
fi
read -r runtime exec_on < <(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
  --query "tasks[0].[containers[?name=='asap'] | [0].runtimeId, enableExecuteCommand]" --output text)
if [[ "$exec_on" != True ]]; then
  echo "admin.sh: task ${task##*/} runs without ECS Exec (started before the stack enabled it): deploy ENV=$env again, then retry" >&2
  exit 1
fi
if [[ -z "$runtime" || "$runtime" == None ]]; then
  echo "admin.sh: task ${task##*/} has no running asap container" >&2
  exit 1
fi

echo "admin.sh: 127.0.0.1:$port -> the admin port of task ${task##*/} ($env). Open http://127.0.0.1:$port/admin/ui/ ;" \
  "the token: aws secretsmanager get-secret-value --secret-id \$(pulumi stack output --stack $env adminTokensSecret) --query SecretString --output text. Ctrl-C ends the session." >&2
exec aws ssm start-session --target "ecs:${cluster}_${task##*/}_${runtime}" \
  --document-name AWS-StartPortForwardingSession \
  --parameters "{\"portNumber\":[\"9090\"],\"localPortNumber\":[\"$port\"]}"
