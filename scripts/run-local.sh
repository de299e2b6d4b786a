#!/usr/bin/env bash
# run-local.sh [ASAP ARGS...]: `make run`. Starts the three demo ad servers that the
# local env file names as upstreams, in the background:
#   primary    127.0.0.1:8081  random prices at or above the floor, ~20 ms
#   exchange-b 127.0.0.1:8082  bids 2.10 (adjusted ×0.9 by demo-auction: 1.89), ~40 ms
#   exchange-c 127.0.0.1:8083  bids 9.00 but answers 210 ms in, after demo-auction's
#                              200 ms tmax: dropped and counted late
# then runs ASAP in the foreground with ASAP_ENV=local, and stops the demo ad servers
# when ASAP exits. demo-auction runs an auction across all three (see docs/auction.md);
# the other samples use primary alone, which bids every format a placement offers:
# banner, a VAST 4.1 video (demo-rewarded-video), a Native 1.2 ad (demo-native). ADSERVER_FLAGS passes flags to primary, e.g.
#   make run ADSERVER_FLAGS='-fill 1 -latency 5ms'
set -euo pipefail

GO=${GO:-go}
ADSERVER_ADDR=${ADSERVER_ADDR:-127.0.0.1:8081}
EXCHANGE_B_ADDR=${EXCHANGE_B_ADDR:-127.0.0.1:8082}
EXCHANGE_C_ADDR=${EXCHANGE_C_ADDR:-127.0.0.1:8083}
dir=$(mktemp -d)
adserver_pids=()
cleanup() {
  for pid in "${adserver_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# Built binaries, not `go run`: the pids below are the demo ad servers' own, and
# Ctrl-C ends with ASAP's exit status, not go run's.
"$GO" build -o "$dir/adserver" ./service/cmd/adserver
"$GO" build -o "$dir/asap" ./service

# start NAME ADDR FLAGS...: one demo ad server in the background.
start() {
  local name=$1 addr=$2
  shift 2
  "$dir/adserver" -addr "$addr" "$@" &
  local pid=$!
  sleep 0.2
  if kill -0 "$pid" 2>/dev/null; then
    adserver_pids+=("$pid")
  else
    echo "run-local: the demo ad server $name did not start on $addr (in use?); ASAP will count it as failing" >&2
  fi
}
# shellcheck disable=SC2086 # ADSERVER_FLAGS is a list of flags
start primary "$ADSERVER_ADDR" -seat primary-seat ${ADSERVER_FLAGS:-}
start exchange-b "$EXCHANGE_B_ADDR" -seat exchange-b-seat -fill 1 -price 2.10 -latency 40ms -jitter 5ms
start exchange-c "$EXCHANGE_C_ADDR" -seat exchange-c-seat -fill 1 -price 9.00 -latency 210ms -jitter 0s

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
