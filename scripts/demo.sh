#!/usr/bin/env bash
# The main command: installs what is needed, starts depot-server on its embedded defaults
# (SQLite in a data directory), bootstraps an organization, a project and a token, and uses
# them with depot-rs's CLI and the official depot CLI.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$REPO_ROOT"

install_system_packages
install_official_cli

log "building depot-server and depot (release)"
cargo build --release --locked -p depot-server -p depot
BIN="$REPO_ROOT/target/release"

export DEPOT_SERVER_DATA_DIR="${DEPOT_SERVER_DATA_DIR:-$(mktemp -d /tmp/depot-demo.XXXXXX)}"
log "starting depot-server (data in $DEPOT_SERVER_DATA_DIR)"
"$BIN/depot-server" --listen 127.0.0.1:0 >"$DEPOT_SERVER_DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
CLEANUPS+=('kill $SERVER_PID 2>/dev/null')
for _ in $(seq 100); do
  URL="$(sed -n 's/^depot-server listening on //p' "$DEPOT_SERVER_DATA_DIR/server.log")"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "${URL:-}" ] || { cat "$DEPOT_SERVER_DATA_DIR/server.log"; exit 1; }
echo "depot-server is serving Depot's API at $URL"

log "bootstrapping an organization, user, project and token"
BOOT="$("$BIN/depot-server" bootstrap --output json)"
TOKEN="$(printf '%s' "$BOOT" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')"
PROJECT="$(printf '%s' "$BOOT" | sed -n 's/.*"project_id":"\([^"]*\)".*/\1/p')"
echo "project $PROJECT, token ${TOKEN:0:8}…"

export DEPOT_API_URL="$URL" DEPOT_TOKEN="$TOKEN" DEPOT_ERROR_TELEMETRY=0 DEPOT_NO_UPDATE_NOTIFIER=1

log "depot-rs CLI: depot list projects"
"$BIN/depot" list projects --output table
log "depot-rs CLI: depot cache reset --project $PROJECT"
"$BIN/depot" cache reset --project "$PROJECT"

log "official CLI: depot list projects --output json"
"$DEPOT_OFFICIAL_CLI" list projects --output json
log "official CLI: depot list builds --project $PROJECT"
"$DEPOT_OFFICIAL_CLI" list builds --project "$PROJECT" --output json
log "official CLI: depot pull-token --project $PROJECT"
"$DEPOT_OFFICIAL_CLI" pull-token --project "$PROJECT" >/dev/null && echo "(a pull token was issued)"

log "done: depot-server keeps running state in $DEPOT_SERVER_DATA_DIR"
