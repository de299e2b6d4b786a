#!/usr/bin/env bash
# seed.sh ENV: runs `asap load` once on the ENV stack's cluster, as a one-off task of the
# deployed task definition (so with the stack's Redis and key prefix), which loads the
# sample placements (demo-feed, demo-article, demo-paused) and publishes them. Run it
# once after the first deployment of a stack, before `make verify` asks for its smoke
# placement (the smokePkey output, demo-feed). The other containers of the task (the
# demo ad server, the metrics agent) start too and stop with it.
set -euo pipefail
cd "$(dirname "$0")/.."

env=${1:-}
[[ "$env" == staging || "$env" == production ]] || { echo "seed.sh: ENV='$env': want staging or production" >&2; exit 2; }

output() { pulumi stack output --stack "$env" "$1"; }
cluster=$(output clusterName)
taskdef=$(output taskDefinitionArn)
logs=$(output logGroupName)
region=$(output region)
export AWS_REGION=$region

provider=$(aws ecs describe-clusters --clusters "$cluster" --query 'clusters[0].capacityProviders[0]' --output text)
task=$(aws ecs run-task --cluster "$cluster" --task-definition "$taskdef" \
  --capacity-provider-strategy "capacityProvider=$provider,weight=1" \
  --overrides '{"containerOverrides":[{"name":"asap","command":["load"]}]}' \
  --started-by asap-seed --query 'tasks[0].taskArn' --output text)
if [[ -z "$task" || "$task" == None ]]; then
  echo "seed.sh: ECS did not start the task (aws ecs run-task returned no task)" >&2
  exit 1
fi
echo "seed.sh: started ${task##*/} on $cluster; waiting for it to finish"
aws ecs wait tasks-stopped --cluster "$cluster" --tasks "$task"

read -r code reason < <(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
  --query "tasks[0].[containers[?name=='asap'] | [0].exitCode, stoppedReason]" --output text)
if [[ "$code" != 0 ]]; then
  echo "seed.sh: asap load exited $code ($reason). Its log: aws logs tail $logs --since 15m" >&2
  exit 1
fi
echo "seed.sh: sample placements loaded into $env's Redis"
