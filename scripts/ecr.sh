#!/usr/bin/env bash
# ecr.sh: the image a deploy names by digest (pulumi up builds and pushes staging's
# own; this script only finds and checks one that exists already).
#
#   ecr.sh check              fail unless $IMAGE is REGISTRY/REPOSITORY@sha256:<64 hex>
#                             and ECR holds that digest
#   ecr.sh promoted [FILE]    print the image production is to run, after the checks
#                             above: $IMAGE when set (a hand rollback), else the digest
#                             `make verify ENV=staging` recorded in FILE (default
#                             out/staging-verified-image) after a verified rollout
#
# Region and account come from the registry host, ACCOUNT.dkr.ecr.REGION.amazonaws.com,
# so production's credentials must be allowed to read staging's repository (the same
# account, or a repository policy that grants it).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/ecr.sh check | promoted [FILE]" >&2; exit 2; }
digest_ref='^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([a-z0-9._/-]+)@(sha256:[0-9a-f]{64})$'

check() { # image
  local image=$1
  if [[ ! "$image" =~ $digest_ref ]]; then
    echo "ecr.sh: '$image' is not an ECR image by digest: want ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY@sha256:<64 hex> (a tag can move; a digest is the image staging verified)" >&2
    exit 1
  fi
  local account=${BASH_REMATCH[1]} region=${BASH_REMATCH[2]} repo=${BASH_REMATCH[4]} digest=${BASH_REMATCH[5]}
  local out
  if ! out=$(aws ecr describe-images --registry-id "$account" --region "$region" --repository-name "$repo" \
    --image-ids "imageDigest=$digest" --query 'imageDetails[0].imageDigest' --output text 2>&1); then
    echo "ecr.sh: $image is not in ECR, or these credentials cannot read it: $(printf '%s\n' "$out" | grep -m1 . || true)" >&2
    exit 1
  fi
  echo "ecr.sh: $image is in ECR" >&2
}

case "${1:-}" in
check)
  [[ -n "${IMAGE:-}" ]] || { echo "ecr.sh check: set IMAGE=<registry>/<repository>@sha256:..." >&2; exit 2; }
  check "$IMAGE"
  ;;
promoted)
  file=${2:-out/staging-verified-image}
  image=${IMAGE:-}
  if [[ -z "$image" ]]; then
    if [[ ! -s "$file" ]]; then
      echo "ecr.sh: no verified staging image in $file: run 'make deploy verify ENV=staging' first (verify records the digest it verified), or name one with IMAGE=<registry>/<repository>@sha256:..." >&2
      exit 1
    fi
    image=$(tr -d '[:space:]' <"$file")
    echo "ecr.sh: promoting $image, verified on staging ($file)" >&2
  else
    echo "ecr.sh: promoting IMAGE=$image" >&2
  fi
  check "$image"
  echo "$image"
  ;;
*)
  usage
  ;;
esac
