#!/usr/bin/env bash
# run-local.sh [ASAP ARGS...]: `make run`. Starts the demo ad server (the upstream
# the local env file names: primary=http://127.0.0.1:8081/openrtb2/auction) in the
# background, runs ASAP in the foreground with ASAP_ENV=local, and stops the demo ad
# server when ASAP exits. ADSERVER_FLAGS passes flags to the demo ad server, e.g.
#   make run ADSERVER_FLAGS='-fill 1 -latency 5ms'
set -euo pipefail

GO=${GO:-go}
ADSERVER_ADDR=${ADSERVER_ADDR:-127.0.0.1:8081}
dir=$(mktemp -d)
adserver_pid=
cleanup() {
  if [[ -n "$adserver_pid" ]] && kill -0 "$adserver_pid" 2>/dev/null; then
    kill "$adserver_pid" 2>/dev/null || true
    wait "$adserver_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# Built binaries, not `go run`: the pid below is the demo ad server's own, and
# Ctrl-C ends with ASAP's exit status, not go run's.
"$GO" build -o "$dir/adserver" ./service/cmd/adserver
"$GO" build -o "$dir/asap" ./service
# shellcheck disable=SC2086 # ADSERVER_FLAGS is a list of flags
"$dir/adserver" -addr "$ADSERVER_ADDR" ${ADSERVER_FLAGS:-} &
adserver_pid=$!
sleep 0.2
if ! kill -0 "$adserver_pid" 2>/dev/null; then
  adserver_pid=
  echo "run-local: the demo ad server did not start on $ADSERVER_ADDR (in use?); GET /v2/ad will answer house ads and 204" >&2
fi

# ASAP runs in the background so that a SIGTERM or SIGINT sent to this script alone
# (not only Ctrl-C to the whole process group) reaches it and it shuts down cleanly.
ASAP_ENV=local "$dir/asap" "$@" &
asap_pid=$!
trap 'kill -TERM "$asap_pid" 2>/dev/null || true' TERM INT
status=0
wait "$asap_pid" || status=$?
# wait returns early when a trapped signal arrives: wait again for ASAP's own exit.
if kill -0 "$asap_pid" 2>/dev/null; then wait "$asap_pid" || status=$?; fi
exit "$status"
