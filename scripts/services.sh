#!/usr/bin/env bash
# Checks every service the platform needs and starts the local ones that are down:
# MariaDB (MYSQL_URL), Redis (REDIS_URL), RabbitMQ (AMQP_URL), and a MongoDB wire-protocol
# server (MONGO_URL; provisioned by scripts/mongo when no real MongoDB is given).
# Exits non-zero naming the service that is missing and how to start it. Non-interactive.
set -euo pipefail
exec </dev/null
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MYSQL_URL="${MYSQL_URL:-mysql://root@127.0.0.1:3306/collect}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"
SERVICES_WAIT="${SERVICES_WAIT:-60}"

log() { printf '[services] %s\n' "$*" >&2; }

# host and port of a URL (scheme://[user[:pass]@]host[:port][/...]), with a default port.
host_of() { local h="${1#*://}"; h="${h##*@}"; h="${h%%/*}"; echo "${h%%:*}"; }
port_of() { local h="${1#*://}"; h="${h##*@}"; h="${h%%/*}"; [[ "$h" == *:* ]] && echo "${h##*:}" || echo "$2"; }
is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }
reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_for() { # name host port
  local deadline=$((SECONDS + SERVICES_WAIT))
  while ! reachable "$2" "$3"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

ensure() { # name url default-port start-command...
  local name="$1" url="$2" host port
  host="$(host_of "$url")"; port="$(port_of "$url" "$3")"; shift 3
  if reachable "$host" "$port"; then log "$name: up at $host:$port"; return 0; fi
  if ! is_local "$host"; then
    log "ERROR: $name is not reachable at $host:$port (from its URL). Start it or fix the URL."; return 1
  fi
  if ! command -v "$1" >/dev/null 2>&1; then
    log "ERROR: $name is down at $host:$port and '$1' is not installed. Install $name or point its URL at a running server."; return 1
  fi
  log "$name: down; starting it with: $*"
  "$@" >/dev/null 2>&1 || true
  if wait_for "$name" "$host" "$port"; then log "$name: up at $host:$port"; return 0; fi
  log "ERROR: $name did not come up on $host:$port within ${SERVICES_WAIT}s. Start it by hand: $*"
  return 1
}

failed=0
ensure MariaDB "$MYSQL_URL" 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || failed=1
ensure Redis "$REDIS_URL" 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log || failed=1
ensure RabbitMQ "$AMQP_URL" 5672 rabbitmq-server -detached || failed=1
if ! mongo_url="$(bash scripts/mongo/start.sh)"; then
  log "ERROR: no MongoDB: set MONGO_URL to a running MongoDB, or see the [mongo] lines above"; failed=1
else
  log "MongoDB: up at $mongo_url"
fi
[ "$failed" = 0 ] || { log "some services are missing (see above)"; exit 1; }
