#!/usr/bin/env bash
# with-redis.sh COMMAND...: runs COMMAND with ASAP_TEST_REDIS_URL naming a Redis that
# answers. It uses ASAP_TEST_REDIS_URL if set, else 127.0.0.1:6379 if it answers, else
# it starts a private redis-server on a free port for the duration of COMMAND.
set -euo pipefail

ping() { # host port
  # bash's /dev/tcp needs no redis-cli.
  # Grouped: a bare `exec ... 2>/dev/null` would silence the whole script's stderr.
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply
  IFS= read -r -t 1 reply <&3 || true
  exec 3<&- 3>&-
  [[ "$reply" == +PONG* ]]
}

if [[ -z "${ASAP_TEST_REDIS_URL:-}" ]]; then
  if ping 127.0.0.1 6379; then
    export ASAP_TEST_REDIS_URL=redis://127.0.0.1:6379/0
  else
    if ! command -v redis-server >/dev/null; then
      echo "with-redis: no Redis answers on 127.0.0.1:6379 and redis-server is not installed." >&2
      echo "with-redis: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set ASAP_TEST_REDIS_URL." >&2
      exit 1
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 16379)
    dir=$(mktemp -d)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
    redis_pid=$!
    trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
    # Generous: a busy machine may take seconds to start it.
    for _ in $(seq 600); do ping 127.0.0.1 "$port" && break; sleep 0.05; done
    ping 127.0.0.1 "$port" || { echo "with-redis: redis-server did not start:" >&2; cat "$dir/redis.log" >&2; exit 1; }
    echo "with-redis: started a private redis-server on 127.0.0.1:$port"
    export ASAP_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
  fi
fi
"$@"
