#!/usr/bin/env bash
# ecr.sh: the image in a stack's ECR repository. ENV is staging or production.
#
#   ecr.sh repo  ENV      print the repository URI
#   ecr.sh check ENV TAG  fail unless the repository holds TAG (make deploy runs it first)
#   ecr.sh push  ENV TAG  log Docker in to ECR, tag the local image asap:ENV-TAG as
#                         REPO:TAG and push it; nothing to do when REPO:TAG exists already
#                         (tags are immutable: one tag is one image, forever)
#
# The repository is the stack output repositoryUrl; before the first full `pulumi up`
# (bootstrap, see the README) it is looked up by its name, asap-ENV. REPO=... overrides
# both. The region is AWS_REGION, else the stack's aws:region in Pulumi.ENV.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/ecr.sh repo|check|push ENV [TAG]" >&2; exit 2; }
cmd=${1:-}
env=${2:-}
tag=${3:-}
[[ "$env" == staging || "$env" == production ]] || { echo "ecr.sh: ENV='$env': want staging or production" >&2; usage; }

region=${AWS_REGION:-$(sed -n 's/^[[:space:]]*aws:region:[[:space:]]*//p' "Pulumi.$env.yaml" 2>/dev/null | tr -d '"'"'"' ')}
[[ -n "$region" ]] || { echo "ecr.sh: no region: set AWS_REGION or aws:region in Pulumi.$env.yaml" >&2; exit 1; }
export AWS_REGION=$region

repo_uri() {
  if [[ -n "${REPO:-}" ]]; then
    echo "$REPO"
    return
  fi
  local uri=""
  if command -v pulumi >/dev/null 2>&1; then
    uri=$(pulumi stack output --stack "$env" repositoryUrl 2>/dev/null || true)
  fi
  if [[ -z "$uri" ]]; then
    uri=$(aws ecr describe-repositories --repository-names "asap-$env" \
      --query 'repositories[0].repositoryUri' --output text 2>/dev/null || true)
  fi
  if [[ -z "$uri" || "$uri" == None ]]; then
    echo "ecr.sh: no ECR repository for $env: neither the stack output repositoryUrl nor a repository asap-$env in $region." >&2
    echo "ecr.sh: create it first (README, Deployment: bootstrap): pulumi up --stack $env --target 'urn:pulumi:$env::asap::aws:ecr/repository:Repository::asap'" >&2
    exit 1
  fi
  echo "$uri"
}

has_tag() { # repository-name tag
  aws ecr describe-images --repository-name "$1" --image-ids "imageTag=$2" >/dev/null 2>&1
}

case "$cmd" in
repo)
  repo_uri
  ;;
check)
  [[ -n "$tag" ]] || usage
  uri=$(repo_uri)
  if ! has_tag "${uri#*/}" "$tag"; then
    echo "ecr.sh: $uri:$tag is not in ECR: run 'make image push ENV=$env' first (or pass SHA= of an image that is)" >&2
    exit 1
  fi
  echo "ecr.sh: $uri:$tag is in ECR"
  ;;
push)
  [[ -n "$tag" ]] || usage
  local_image="asap:$env-$tag"
  if ! docker image inspect "$local_image" >/dev/null 2>&1; then
    echo "ecr.sh: no local image $local_image: run 'make image ENV=$env' first" >&2
    exit 1
  fi
  # The tag names a commit and can never be overwritten: an image built from
  # uncommitted changes must not take it.
  if [[ -z "${ALLOW_DIRTY:-}" && -n "$(git status --porcelain -- service docker .dockerignore)" ]]; then
    echo "ecr.sh: service/ or docker/ has uncommitted changes, so $local_image is not commit $tag." >&2
    echo "ecr.sh: commit them (or ALLOW_DIRTY=1 for a throwaway experiment; the tag stays taken)." >&2
    exit 1
  fi
  uri=$(repo_uri)
  if has_tag "${uri#*/}" "$tag"; then
    echo "ecr.sh: $uri:$tag is already in ECR; nothing to push"
    exit 0
  fi
  aws ecr get-login-password | docker login --username AWS --password-stdin "${uri%%/*}"
  docker tag "$local_image" "$uri:$tag"
  docker push "$uri:$tag"
  echo "ecr.sh: pushed $uri:$tag"
  ;;
*)
  usage
  ;;
esac
