#!/usr/bin/env bash
# fuzz.sh [FUZZTIME]: runs every fuzz target of the repository (each `func FuzzXxx` in
# a _test.go file under service/ or infra/) for FUZZTIME (default 10m) each, one after
# the other, so the whole run takes about (number of targets) × FUZZTIME. It stops at
# the first failure; `go test` then writes the failing input to that package's
# testdata/fuzz/FuzzXxx/, where `make test` replays it once it is committed.
set -euo pipefail
fuzztime=${1:-10m}
cd "$(dirname "$0")/.."

mapfile -t targets < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' service infra |
  sed -E 's#^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets × $fuzztime, one after the other"
for target in "${targets[@]}"; do
  dir=${target% *} name=${target#* }
  echo "fuzz: $name (./$dir) for $fuzztime"
  go test "./$dir" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime"
done
echo "fuzz: ${#targets[@]} targets ran $fuzztime each without a failure"
