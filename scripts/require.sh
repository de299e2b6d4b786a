#!/usr/bin/env bash
# require.sh [--for TARGET] TOOL...: checks that every TOOL is installed and usable and
# reports all problems at once, so a release target fails before it starts rather than
# half-way through. TOOLs:
#   docker  the client and a Docker engine that answers (docker info)
#   aws     the AWS CLI and credentials that work (aws sts get-caller-identity)
#   pulumi  the Pulumi CLI, logged in to a state backend (pulumi whoami)
#   go, git installed
set -uo pipefail

target="this command"
if [[ "${1:-}" == "--for" ]]; then
  target="make ${2:?--for needs a target name}"
  shift 2
fi

problems=()
first_line() { printf '%s\n' "$1" | grep -m1 . || true; }

for tool in "$@"; do
  case "$tool" in
  docker)
    if ! command -v docker >/dev/null 2>&1; then
      problems+=("docker is not installed: https://docs.docker.com/get-docker/")
    elif ! out=$(docker info --format '{{.ServerVersion}}' 2>&1); then
      problems+=("docker: no Docker engine answers ($(first_line "$out")): start Docker Desktop or dockerd, or point DOCKER_HOST at one")
    fi
    ;;
  aws)
    if ! command -v aws >/dev/null 2>&1; then
      problems+=("aws (the AWS CLI) is not installed: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html")
    elif ! out=$(aws sts get-caller-identity --query Arn --output text --cli-connect-timeout 5 --cli-read-timeout 10 2>&1); then
      problems+=("aws: no working AWS credentials (aws sts get-caller-identity: $(first_line "$out")): run 'aws configure sso' then 'aws sso login', or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    else
      echo "require: AWS identity $out" >&2
    fi
    ;;
  pulumi)
    if ! command -v pulumi >/dev/null 2>&1; then
      problems+=("pulumi is not installed: https://www.pulumi.com/docs/iac/download-install/ (curl -fsSL https://get.pulumi.com | sh)")
    elif ! out=$(pulumi whoami 2>&1); then
      problems+=("pulumi: not logged in to a state backend (pulumi whoami: $(first_line "$out")): run 'make login' (PULUMI_BACKEND_URL, the stacks' backend: docs/deployment.md)")
    fi
    ;;
  go)
    command -v go >/dev/null 2>&1 || problems+=("go is not installed: https://go.dev/dl/ (service/go.mod names the version)")
    ;;
  git)
    command -v git >/dev/null 2>&1 || problems+=("git is not installed")
    ;;
  *)
    problems+=("require.sh does not know the tool '$tool'")
    ;;
  esac
done

if ((${#problems[@]} > 0)); then
  echo "$target cannot run:" >&2
  for p in "${problems[@]}"; do
    echo "  - $p" >&2
  done
  exit 1
fi
