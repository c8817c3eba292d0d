# Shared by scripts/test.sh and scripts/demo.sh: installs what depot-rs needs on Debian
# bookworm, idempotently. Source it, then call the functions.

DEPOT_OFFICIAL_CLI_VERSION="0.0.1-cli.2.102.12"
DEPOT_OFFICIAL_SDK_NODE_VERSION="1.4.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_DIR="${DEPOT_RS_CACHE_DIR:-$REPO_ROOT/.cache}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Commands run when the calling script exits (services it started), last registered first.
CLEANUPS=()
run_cleanups() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" || true; done
}
trap run_cleanups EXIT

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt packages: the Rust toolchain's C linker, PostgreSQL, skopeo, CNCF distribution, busybox
# (tests and the demo's base), curl and python3 (scripts), Node/npm (the official CLI).
install_system_packages() {
  local missing=()
  [ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  # A shell and tools for the RUN steps of test builds (no base images can be pulled here).
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  # Node may come from another source (e.g. NodeSource, which bundles npm); only add Debian's
  # packages when the commands are missing.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    for candidate in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
      [ -x "$candidate/cargo" ] && export PATH="$candidate:$PATH"
    done
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "error: cargo not found. Install Rust 1.88 or newer (https://rustup.rs) and run this again." >&2
    exit 1
  }
}

# Chromium and chromedriver (Debian's), for the dashboard's browser tests.
install_browser() {
  if ! command -v chromedriver >/dev/null 2>&1 || ! [ -x /usr/bin/chromium ]; then
    log "installing Chromium and chromedriver (Debian packages)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null
  fi
}

# The official depot CLI, from npm; sets DEPOT_OFFICIAL_CLI.
install_official_cli() {
  local dir="$CACHE_DIR/depot-cli-$DEPOT_OFFICIAL_CLI_VERSION"
  if [ ! -x "$dir/package/bin/depot" ]; then
    log "fetching the official depot CLI $DEPOT_OFFICIAL_CLI_VERSION from npm"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@depot/cli-linux-x64@$DEPOT_OFFICIAL_CLI_VERSION" >/dev/null \
      && tar xzf ./*.tgz && rm -f ./*.tgz)
  fi
  export DEPOT_OFFICIAL_CLI="$dir/package/bin/depot"
  "$DEPOT_OFFICIAL_CLI" --version >/dev/null
}

# Depot's official Node SDK with its dependencies, from npm (the public API tests drive it);
# sets DEPOT_OFFICIAL_SDK_NODE to its package directory.
install_official_sdk_node() {
  local dir="$CACHE_DIR/sdk-node-$DEPOT_OFFICIAL_SDK_NODE_VERSION"
  if [ ! -f "$dir/node_modules/@depot/sdk-node/package.json" ]; then
    log "installing the official Node SDK @depot/sdk-node@$DEPOT_OFFICIAL_SDK_NODE_VERSION from npm"
    rm -rf "$dir" && mkdir -p "$dir"
    echo '{ "private": true }' >"$dir/package.json"
    (cd "$dir" && npm install --silent --no-audit --no-fund \
      "@depot/sdk-node@$DEPOT_OFFICIAL_SDK_NODE_VERSION" >/dev/null)
  fi
  export DEPOT_OFFICIAL_SDK_NODE="$dir/node_modules/@depot/sdk-node"
}

# A throwaway PostgreSQL cluster on a loopback port; sets DEPOT_TEST_DATABASE_URL and
# registers its shutdown on exit.
start_postgres() {
  local bindir port dir
  bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  port="${DEPOT_TEST_PG_PORT:-55439}"
  dir="$(mktemp -d /tmp/depot-rs-pg.XXXXXX)"
  chmod 755 "$dir"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    run=(runuser -u postgres --)
  fi
  log "starting PostgreSQL on 127.0.0.1:$port"
  "${run[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
  "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null
  export DEPOT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop)
  CLEANUPS+=('log "stopping PostgreSQL"; "${PG_STOP[@]}" >/dev/null 2>&1; rm -rf "'"$dir"'"')
}

# moto in server mode (an S3-compatible server from PyPI, installed by install_python_clients)
# on a loopback port; sets DEPOT_TEST_S3_ENDPOINT and registers its shutdown on exit.
start_s3() {
  local port="${DEPOT_TEST_S3_PORT:-55440}" log_file
  log_file="$(mktemp /tmp/depot-rs-moto.XXXXXX)"
  log "starting an S3-compatible server (moto) on 127.0.0.1:$port"
  "$CACHE_DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 &
  local pid=$!
  CLEANUPS+=("log 'stopping moto'; kill $pid 2>/dev/null; rm -f '$log_file'")
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      export DEPOT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$log_file" >&2
  echo "error: moto did not start on 127.0.0.1:$port" >&2
  exit 1
}

# Debian trixie as an apt source, pinned low (only packages asked for as <name>/trixie come
# from it).
add_trixie_source() {
  [ -f /etc/apt/sources.list.d/depot-rs-trixie.sources ] && return
  as_root tee /etc/apt/sources.list.d/depot-rs-trixie.sources >/dev/null <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  as_root tee /etc/apt/preferences.d/depot-rs-trixie >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  as_root apt-get update -qq
}

# Docker Engine 26 with the containerd image store: Debian trixie's docker.io, installed alone
# (trixie pinned low so nothing else is upgraded), and dockerd started unless one already runs.
start_dockerd() {
  if ! command -v dockerd >/dev/null 2>&1 || ! dockerd --version | grep -qE "version (2[6-9]|[3-9][0-9])"; then
    log "installing Docker Engine 26 (docker.io from Debian trixie)"
    add_trixie_source
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends docker.io/trixie >/dev/null
  fi
  if docker info >/dev/null 2>&1; then
    docker info 2>/dev/null | grep -q "io.containerd.snapshotter" \
      || log "warning: the running dockerd does not use the containerd image store; some tests may fail"
    return
  fi
  if [ ! -f /etc/docker/daemon.json ]; then
    as_root mkdir -p /etc/docker
    echo '{"features":{"containerd-snapshotter":true}}' | as_root tee /etc/docker/daemon.json >/dev/null
  elif ! grep -q containerd-snapshotter /etc/docker/daemon.json; then
    echo "error: /etc/docker/daemon.json exists without {\"features\":{\"containerd-snapshotter\":true}}; add it and run again" >&2
    exit 1
  fi
  log "starting dockerd (log: $CACHE_DIR/dockerd.log)"
  mkdir -p "$CACHE_DIR"
  as_root sh -c "nohup dockerd >'$CACHE_DIR/dockerd.log' 2>&1 &"
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  tail -n 20 "$CACHE_DIR/dockerd.log" >&2
  echo "error: dockerd did not start" >&2
  exit 1
}

# docker buildx 0.13 (Debian trixie): the peer of `depot bake --print` in the tests and of the
# build benchmarks. Needs start_dockerd's trixie source.
install_buildx() {
  if ! docker buildx version >/dev/null 2>&1; then
    log "installing docker buildx (docker-buildx from Debian trixie)"
    add_trixie_source
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends docker-buildx/trixie >/dev/null
  fi
}

# oras-py (the OCI artifact client) and moto (an S3-compatible server) from PyPI in a venv;
# sets DEPOT_TEST_PYTHON.
install_python_clients() {
  local venv="$CACHE_DIR/venv"
  if ! "$venv/bin/python" -c "import oras, moto.server" >/dev/null 2>&1; then
    log "installing oras and moto from PyPI"
    python3 -m venv "$venv" >/dev/null 2>&1 || {
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q --disable-pip-version-check oras 'moto[server]'
  fi
  export DEPOT_TEST_PYTHON="$venv/bin/python"
}
