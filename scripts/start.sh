#!/usr/bin/env bash
# `npm start`: checks or starts the services, applies migrations, then runs serverless-offline
# for the API (HTTP on $HTTP_PORT), a second one for the queue workers (Lambda invoke API on
# $WORKER_LAMBDA_PORT) and the RabbitMQ bridge, until Ctrl-C.
# With START_DEMO=1 (the default) it imports scripts/demo/sample-tree.json once it is up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HTTP_PORT="${HTTP_PORT:-3000}" LAMBDA_PORT="${LAMBDA_PORT:-3002}"
export WORKER_HTTP_PORT="${WORKER_HTTP_PORT:-3004}" WORKER_LAMBDA_PORT="${WORKER_LAMBDA_PORT:-3006}"
export COLLECT_API_URL="${COLLECT_API_URL:-http://127.0.0.1:$HTTP_PORT}" REGISTER_API_URL="${REGISTER_API_URL:-http://127.0.0.1:$HTTP_PORT}"
export MONGO_URL="${MONGO_URL:-mongodb://127.0.0.1:${MONGO_PORT:-27018}/collect}"
START_DEMO="${START_DEMO:-1}"
# Checked before anything starts; every process (the bridges too) then reads true or false.
# shellcheck source=scripts/switch.sh
source scripts/switch.sh
normalise_switch SCHEDULE_TICK true || exit 2
# npm start runs the bridges as their own processes: the plugin must not run them again inside
# every serverless-offline (OFFLINE_RABBITMQ left in a shell would).
export OFFLINE_RABBITMQ=false
# The bridges wait for their worker process's Lambda API; several booting at once on two cores
# take longer than the bridge's own default.
export BRIDGE_QUEUE_WAIT_MS="${BRIDGE_QUEUE_WAIT_MS:-${START_TIMEOUT:-180}000}"
RUN_DIR="${RUN_DIR:-.run}"
mkdir -p "$RUN_DIR"

log() { printf '[start] %s\n' "$*" >&2; }

WORKERS="${WORKERS:-1}"
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || { log "WORKERS must be a number from 1 to 99, got '$WORKERS'"; exit 2; }

# Every port this run listens on must be free: something else answering there would pass the
# readiness checks below, and the platform would seem up when it is not.
ports=("HTTP_PORT=$HTTP_PORT" "LAMBDA_PORT=$LAMBDA_PORT")
for ((k = 0; k < WORKERS; k++)); do
  ports+=("WORKER_HTTP_PORT+$((4 * k))=$((WORKER_HTTP_PORT + 4 * k))" "WORKER_LAMBDA_PORT+$((4 * k))=$((WORKER_LAMBDA_PORT + 4 * k))")
done
for entry in "${ports[@]}"; do
  port="${entry##*=}"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port (${entry%%=*}) is already in use: stop what listens there, or choose other ports (see the README's Configuration)"
    exit 2
  fi
done

bash scripts/services.sh
npx tsx scripts/setup.ts

declare -A pid_of=() restarts=()
# `npm stop` (scripts/stop.sh) finds this run here.
echo "$$" >"$RUN_DIR/start.pid"
cleanup() {
  trap - EXIT INT TERM
  rm -f "$RUN_DIR/start.pid"
  # Each child leads its own process group: stop the whole group (npx, tsx, node, esbuild …).
  for p in "${pid_of[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# Two serverless-offline processes, like separate Lambda containers: one serves the HTTP API,
# the other runs the queue workers the bridge invokes. Each runs its handlers on one JS thread,
# so API requests and workers do not queue behind each other. Logs are appended to (the last
# run's are kept as *.log.1), so a crash leaves its evidence.
# With WORKERS=N there are N worker processes, each with its own bridge (parts workers, bridge,
# workers2, bridge2 …), on ports WORKER_HTTP_PORT/WORKER_LAMBDA_PORT + 4 per process, all
# consuming the same queues of the one broker.
start_part() {
  local n="${1//[a-z]/}" # workers3 → 3; workers → ''
  local i=$(( ${n:-1} - 1 ))
  local http=$((WORKER_HTTP_PORT + 4 * i)) lambda=$((WORKER_LAMBDA_PORT + 4 * i))
  case "$1" in
    # The API process loads every HTTP and scheduled function (each bundle with its own clients):
    # it gets a larger heap than a worker process (OFFLINE_API_HEAP_MB).
    offline) OFFLINE_HEAP_MB="${OFFLINE_API_HEAP_MB:-640}" setsid bash scripts/offline.sh >>"$RUN_DIR/offline.log" 2>&1 & ;;
    workers*)
      # Only the API process ticks the scheduler (SCHEDULE_TICK): once a minute, not once per process.
      HTTP_PORT="$http" LAMBDA_PORT="$lambda" ESBUILD_WORK_FOLDER=".esbuild-workers$n" SCHEDULE_TICK=false \
        setsid bash scripts/offline.sh >>"$RUN_DIR/$1.log" 2>&1 &
      ;;
    bridge*) LAMBDA_PORT="$lambda" setsid node_modules/.bin/offline-rabbitmq >>"$RUN_DIR/$1.log" 2>&1 & ;;
  esac
  pid_of[$1]=$!
}
parts=(offline workers bridge)
for ((k = 2; k <= WORKERS; k++)); do parts+=("workers$k" "bridge$k"); done
for part in "${parts[@]}"; do
  [ -f "$RUN_DIR/$part.log" ] && mv -f "$RUN_DIR/$part.log" "$RUN_DIR/$part.log.1"
  : >"$RUN_DIR/$part.log"
done
log "serverless-offline (API) on http://localhost:$HTTP_PORT (log: $RUN_DIR/offline.log)"
start_part offline
log "serverless-offline (workers) on Lambda port $WORKER_LAMBDA_PORT (log: $RUN_DIR/workers.log)"
start_part workers
log "RabbitMQ bridge (log: $RUN_DIR/bridge.log)"
start_part bridge
for ((k = 2; k <= WORKERS; k++)); do
  log "worker process $k: serverless-offline on Lambda port $((WORKER_LAMBDA_PORT + 4 * (k - 1))) and its bridge (logs: $RUN_DIR/workers$k.log, $RUN_DIR/bridge$k.log)"
  start_part "workers$k"
  start_part "bridge$k"
done

deadline=$((SECONDS + ${START_TIMEOUT:-180}))
until curl -fsS -o /dev/null "http://127.0.0.1:$HTTP_PORT/api/tasks/ready-check" -w '' 2>/dev/null ||
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/api/tasks/ready-check")" = 404 ]; do
  for part in "${!pid_of[@]}"; do
    kill -0 "${pid_of[$part]}" 2>/dev/null || { log "$part exited early; see $RUN_DIR/$part.log"; tail -n 30 "$RUN_DIR/$part.log" >&2; exit 1; }
  done
  [ "$SECONDS" -lt "$deadline" ] || { log "not up after ${START_TIMEOUT:-180}s; see $RUN_DIR/*.log"; exit 1; }
  sleep 1
done
log "platform up: http://localhost:$HTTP_PORT"

if [ "$START_DEMO" = 1 ]; then
  bash scripts/demo/demo.sh "http://127.0.0.1:$HTTP_PORT" || log "demo failed (the platform keeps running)"
fi
log "Ctrl-C stops serverless-offline and the bridge (MongoDB from .mongo stays up; npm stop stops it too)"

# A part that dies (a crash, an OOM, kill -9) is started again, as Lambda starts a new container;
# the work it held comes back from RabbitMQ. One that keeps dying (5 times within a minute) stops
# everything, with the end of its log.
# It also ends when whatever started it is gone (`npm start` stopped by a process manager's
# SIGTERM does not pass the signal on), rather than leaving the platform running unowned.
parent=$PPID
while :; do
  sleep 1 &
  wait $! || true
  kill -0 "$parent" 2>/dev/null || { log "the process that started me is gone; stopping"; exit 0; }
  for part in "${!pid_of[@]}"; do
    pid="${pid_of[$part]}"
    kill -0 "$pid" 2>/dev/null && continue
    kill -KILL -- "-$pid" 2>/dev/null || true # what is left of its process group
    now=$SECONDS
    recent="${restarts[$part]:-}"
    # `if`, not `&&`: under `set -e` a loop whose last test fails would end the script (and the
    # EXIT trap would stop everything) when the previous restart is a minute old.
    recent="$(for t in $recent; do if [ $((now - t)) -lt 60 ]; then printf '%s ' "$t"; fi; done)$now"
    restarts[$part]="$recent"
    log "$part exited; last lines of $RUN_DIR/$part.log:"
    tail -n 15 "$RUN_DIR/$part.log" >&2 || true
    if [ "$(wc -w <<<"$recent")" -ge 5 ]; then
      log "$part exited 5 times within a minute; stopping"
      exit 1
    fi
    log "starting $part again"
    start_part "$part"
  done
done
