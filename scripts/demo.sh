#!/usr/bin/env bash
# The main command: installs what is needed, starts depot-server on its embedded defaults
# (SQLite and blobs in a data directory, a Docker Engine per project as the builder, which
# depot-server starts itself: it runs as root),
# bootstraps an organization, a project and a token, then runs a real build of examples/image
# that is saved to depot-server's registry, pulled back into Docker, run, and pushed to a
# second registry — with depot-rs's CLI, and the same build with the official depot CLI.
set -euo pipefail
source "$(dirname "$0")/lib/deps.sh"
cd "$REPO_ROOT"

install_system_packages
install_official_cli
start_dockerd

log "building depot-server and depot (release)"
cargo build --release --locked -p depot-server -p depot
BIN="$REPO_ROOT/target/release"

export DEPOT_SERVER_DATA_DIR="${DEPOT_SERVER_DATA_DIR:-$(mktemp -d /tmp/depot-demo.XXXXXX)}"
log "starting depot-server (data in $DEPOT_SERVER_DATA_DIR)"
SERVER=("$BIN/depot-server" --listen 127.0.0.1:0)
[ "$(id -u)" = 0 ] || SERVER=(sudo --preserve-env=DEPOT_SERVER_DATA_DIR "${SERVER[@]}")
"${SERVER[@]}" >"$DEPOT_SERVER_DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
# SIGTERM: depot-server stops the builder engines it started, then exits.
CLEANUPS+=('kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null')
for _ in $(seq 100); do
  URL="$(sed -n 's/^depot-server listening on //p' "$DEPOT_SERVER_DATA_DIR/server.log")"
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "${URL:-}" ] || { cat "$DEPOT_SERVER_DATA_DIR/server.log"; exit 1; }
echo "depot-server is serving Depot's API at $URL"

log "bootstrapping an organization, user, project and token"
BOOT="$(as_root env DEPOT_SERVER_DATA_DIR="$DEPOT_SERVER_DATA_DIR" "$BIN/depot-server" bootstrap --output json)"
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

# Nothing can be pulled from the network here, so the example's base is a named build context:
# a busybox root file system made from Debian's busybox-static.
ROOTFS="$DEPOT_SERVER_DATA_DIR/rootfs"
mkdir -p "$ROOTFS/bin" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in $("$ROOTFS/bin/busybox" --list); do
  [ -e "$ROOTFS/bin/$applet" ] || ln -s busybox "$ROOTFS/bin/$applet"
done

log "depot-rs CLI: depot build --save examples/image"
"$BIN/depot" build --project "$PROJECT" --save --save-tag demo \
  --build-context "rootfs=$ROOTFS" --metadata-file "$DEPOT_SERVER_DATA_DIR/build.json" \
  --progress plain examples/image
BUILD_ID="$(sed -n 's/.*"buildID": *"\([^"]*\)".*/\1/p' "$DEPOT_SERVER_DATA_DIR/build.json")"
DIGEST="$(sed -n 's/.*"containerimage.digest": *"\([^"]*\)".*/\1/p' "$DEPOT_SERVER_DATA_DIR/build.json")"
echo "build $BUILD_ID saved as $DIGEST"

log "depot-rs CLI: depot list builds"
"$BIN/depot" list builds --project "$PROJECT" --output table

log "depot-rs CLI: depot pull $BUILD_ID -t depot-demo:latest, then docker run it"
"$BIN/depot" pull "$BUILD_ID" --project "$PROJECT" -t depot-demo:latest
docker run --rm depot-demo:latest

log "starting a second registry (CNCF distribution) to push to"
REGISTRY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$DEPOT_SERVER_DATA_DIR/registry.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DEPOT_SERVER_DATA_DIR/second-registry
http:
  addr: 127.0.0.1:$REGISTRY_PORT
CONFIG
docker-registry serve "$DEPOT_SERVER_DATA_DIR/registry.yml" >/dev/null 2>&1 &
CLEANUPS+=("kill $! 2>/dev/null")
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

log "depot-rs CLI: depot push $BUILD_ID -t 127.0.0.1:$REGISTRY_PORT/demo/app:1"
"$BIN/depot" push "$BUILD_ID" --project "$PROJECT" -t "127.0.0.1:$REGISTRY_PORT/demo/app:1"
PUSHED="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$REGISTRY_PORT/demo/app:1")"
[ "$PUSHED" = "$DIGEST" ] || { echo "pushed digest $PUSHED differs from the build's $DIGEST" >&2; exit 1; }
echo "the second registry holds $DIGEST, the saved build's digest"

log "official CLI: the same build, saved (depot build --save)"
"$DEPOT_OFFICIAL_CLI" build --project "$PROJECT" --save --build-context "rootfs=$ROOTFS" \
  --metadata-file "$DEPOT_SERVER_DATA_DIR/official.json" --progress plain examples/image
OFFICIAL_ID="$(sed -n 's/.*"buildID": *"\([^"]*\)".*/\1/p' "$DEPOT_SERVER_DATA_DIR/official.json")"
log "official CLI: depot pull $OFFICIAL_ID"
"$DEPOT_OFFICIAL_CLI" pull "$OFFICIAL_ID" --project "$PROJECT" -t depot-demo:official
docker run --rm depot-demo:official
"$DEPOT_OFFICIAL_CLI" list builds --project "$PROJECT" --output json

log "done: depot-server keeps running state in $DEPOT_SERVER_DATA_DIR"
