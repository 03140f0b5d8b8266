#!/usr/bin/env bash
# Stops the server started by start.sh: SIGTERM (the engine checkpoints and closes its files),
# then SIGKILL after 30 s. Not running is success. `--wipe` also deletes the data directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

wipe=false
for arg in "$@"; do
  case "$arg" in
    --wipe) wipe=true ;;
    *) mongo_die "usage: stop.sh [--wipe]" ;;
  esac
done

[ -d "$MONGO_HOME" ] || exit 0
exec 9>"$MONGO_HOME/.start.lock"
flock -w 90 9 || mongo_die "timed out waiting for $MONGO_HOME/.start.lock"

pid="$(running_pid)"
if [ -z "$pid" ]; then
  mongo_log "not running"
  rm -f "$MONGO_PID_FILE"
else
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    mongo_log "pid $pid did not exit within 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$MONGO_PID_FILE"
  mongo_log "stopped (pid $pid)"
fi

if $wipe; then
  rm -rf "$MONGO_DATA_DIR"
  mongo_log "wiped $MONGO_DATA_DIR"
fi
