#!/usr/bin/env bash
# `npm stop`: stops what `npm start` started from this checkout, from any terminal: the running
# `npm start` (its serverless-offline processes and bridges go with it) and the MongoDB server
# that scripts/services.sh provisioned in .mongo. MariaDB, Redis and RabbitMQ are the machine's
# services and keep running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN_DIR="${RUN_DIR:-.run}"
log() { printf '[stop] %s\n' "$*" >&2; }

pid_file="$RUN_DIR/start.pid"
pid="$(cat "$pid_file" 2>/dev/null || true)"
if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
  log "stopping npm start (pid $pid) and the processes it started"
  kill -TERM "$pid"
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "npm start (pid $pid) did not stop within 60 s"
    exit 1
  fi
else
  log "npm start is not running"
fi
rm -f "$pid_file"
bash scripts/mongo/stop.sh
