#!/usr/bin/env bash
# Starts the local MongoDB wire-protocol server (scripts/mongo/server.mjs) in the background on
# 127.0.0.1:${MONGO_PORT:-27018}, unless $MONGO_URL already points at a reachable server.
#
# stdout: exactly one line, the URL to use (so `export MONGO_URL="$(scripts/mongo/start.sh)"`
# works); progress and errors go to stderr. Exit 0 only after a real `ping` round trip succeeded.
# Running it again while the server is up is a no-op. Non-interactive; safe with CI=true.
#
# Env: MONGO_URL, MONGO_PORT (27018), MONGO_HOME (.mongo), MONGO_DATA_DIR ($MONGO_HOME/data),
#      MONGO_START_TIMEOUT (60 s), MONGO_TTL_INTERVAL (60 s; 0 = no TTL sweeper, see server.mjs),
#      MONGO_CACHE_MB (128; the engine's WiredTiger cache, 0 = its default of 256, see server.mjs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null

LOCAL_URL="mongodb://$MONGO_HOST:$MONGO_PORT"

# A MONGO_URL naming the local server itself (possibly with a path/options) is handled below.
OUT_URL="$LOCAL_URL"   # what stdout reports on success
case "${MONGO_URL:-}" in "$LOCAL_URL" | "$LOCAL_URL"/* | "$LOCAL_URL"'?'*) OUT_URL="$MONGO_URL" MONGO_URL="" ;; esac
if [ -n "${MONGO_URL:-}" ]; then
  if mongo_ping "$MONGO_URL" 3000; then
    mongo_log "MONGO_URL is reachable; not starting a local server"
    echo "$MONGO_URL"
    exit 0
  fi
  mongo_log "warning: MONGO_URL=$MONGO_URL does not answer ping; starting a local server at $LOCAL_URL instead"
fi

mkdir -p "$MONGO_HOME"
[ -f "$MONGO_HOME/.gitignore" ] || printf '# created by scripts/mongo\n*\n' >"$MONGO_HOME/.gitignore"
# Serialise concurrent start.sh / stop.sh runs (e.g. test runners starting in parallel).
exec 9>"$MONGO_HOME/.start.lock"
flock -w "$((MONGO_START_TIMEOUT + 30))" 9 || mongo_die "timed out waiting for $MONGO_HOME/.start.lock"

fail_with_log() {
  mongo_log "ERROR: $1"
  if [ -s "$MONGO_LOG_FILE" ]; then
    mongo_log "last lines of $MONGO_LOG_FILE:"
    tail -n 30 "$MONGO_LOG_FILE" | sed 's/^/    /' >&2
  fi
  exit 1
}

# Waits for ping until the deadline; returns 1 if the process dies or time runs out.
wait_ready() { # pid
  local deadline=$((SECONDS + MONGO_START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$1" 2>/dev/null || return 1
    mongo_ping "$LOCAL_URL" 1000 && return 0
    sleep 0.2
  done
  return 1
}

# ---- already running? -------------------------------------------------------------------------
pid="$(running_pid)"
if [ -n "$pid" ]; then
  port="$(running_port "$pid")"
  [ "$port" = "$MONGO_PORT" ] ||
    mongo_die "a server from $MONGO_HOME is already running on port $port (pid $pid); run scripts/mongo/stop.sh first"
  if wait_ready "$pid"; then
    mongo_log "already running (pid $pid) at $LOCAL_URL"
    echo "$OUT_URL"
    exit 0
  fi
  fail_with_log "server pid $pid is running but does not answer ping at $LOCAL_URL; run scripts/mongo/stop.sh"
fi

# Not running. A pid file left by a kill -9 / crash / reboot is stale: remove it. (The server
# uses no socket file; the engine's own mongod.lock in the data dir is recovered on open.)
if [ -e "$MONGO_PID_FILE" ]; then
  mongo_log "removing stale pid file (pid $(cat "$MONGO_PID_FILE" 2>/dev/null) is gone)"
  rm -f "$MONGO_PID_FILE"
fi

# Something else on our port would make us report success against the wrong server, or fail to bind.
if node -e '
  const s = require("net").connect(+process.argv[1], process.argv[2]);
  s.on("connect", () => process.exit(0)); s.on("error", () => process.exit(1));
  setTimeout(() => process.exit(1), 1000);' "$MONGO_PORT" "$MONGO_HOST"; then
  # A MongoDB server someone else started (another checkout, a real mongod) serves just as well.
  if mongo_ping "$LOCAL_URL" 2000; then
    mongo_log "a MongoDB server not started from $MONGO_HOME already answers at $LOCAL_URL; using it"
    echo "$LOCAL_URL"
    exit 0
  fi
  mongo_die "port $MONGO_PORT on $MONGO_HOST is already in use by another process that is not MongoDB. Free it or set MONGO_PORT."
fi

# ---- provision (fast no-op when done) and launch ------------------------------------------------
"$MONGO_SCRIPTS_DIR/provision.sh" 2> >(grep -v -e 'present:' -e 'found in' -e 'loads OK' >&2 || true)
mapfile -t cmd < <(engine_node_cmd) || true
[ "${#cmd[@]}" -gt 0 ] || mongo_die "provisioning did not produce a usable runtime"

mkdir -p "$MONGO_DATA_DIR" || mongo_die "cannot create the data directory $MONGO_DATA_DIR"
[ -f "$MONGO_LOG_FILE" ] && mv -f "$MONGO_LOG_FILE" "$MONGO_LOG_FILE.1"
mongo_log "starting engine on $LOCAL_URL (data: $MONGO_DATA_DIR, log: $MONGO_LOG_FILE)"
# setsid + all fds redirected: the server must not hold the caller's terminal or stdout pipe
# (a CI runner waiting for its child's output to close would otherwise hang on it).
setsid "${cmd[@]}" "$MONGO_SCRIPTS_DIR/server.mjs" \
  --dbpath "$MONGO_DATA_DIR" --port "$MONGO_PORT" --host "$MONGO_HOST" --pidfile "$MONGO_PID_FILE" \
  >>"$MONGO_LOG_FILE" 2>&1 </dev/null 9>&- &
launched=$!

# The server writes its own pid file once listening; until then, watch the launched pid.
if ! wait_ready "$launched"; then
  if kill -0 "$launched" 2>/dev/null; then
    kill -TERM "$launched" 2>/dev/null || true
    sleep 2
    kill -KILL "$launched" 2>/dev/null || true
    rm -f "$MONGO_PID_FILE"
    fail_with_log "server did not answer ping within ${MONGO_START_TIMEOUT}s (killed it)"
  fi
  rc=0; wait "$launched" 2>/dev/null || rc=$?
  rm -f "$MONGO_PID_FILE"
  hint=""
  # The engine prints nothing when it aborts (its own log output is not wired up); an abort while
  # opening the data directory almost always means the directory is damaged or not a database.
  [ "$rc" -gt 128 ] && hint=" (killed by signal $((rc - 128)); if the log ends at 'opening engine', the data directory $MONGO_DATA_DIR is unreadable or damaged: scripts/mongo/stop.sh --wipe deletes it)"
  fail_with_log "server exited during startup with status $rc$hint"
fi
mongo_log "ready (pid $(cat "$MONGO_PID_FILE")) at $LOCAL_URL"
echo "$OUT_URL"
