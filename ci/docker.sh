#!/usr/bin/env bash
# A private Docker engine for the crash suites (crash/), and the local images they run.
#
#   ci/docker.sh up     install docker.io and fuse3 if missing, start dockerd unless one already
#                       answers on our socket, remove leftover test containers, build the images
#   ci/docker.sh down   stop dockerd, only if `up` started it (by the PID it recorded)
#   ci/docker.sh host   print the DOCKER_HOST value for our socket
#
# The engine has no bridge, no iptables rules and no NAT: containers use host networking and
# listen on loopback only. Nothing is pulled from a registry; images are built FROM scratch
# around the pinned, statically linked nats-server that `make deps` installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${TOOLS:-$ROOT/.tools}
# A unix socket path must fit in 108 bytes, and containerd puts its own sockets under the
# exec root: a long checkout path falls back to a short directory under /tmp.
DIR=${LEAF_DOCKER_DIR:-$TOOLS/docker}
if [ ${#DIR} -gt 60 ]; then
  DIR=/tmp/leaf-docker-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
fi
SOCK="$DIR/docker.sock"
export DOCKER_HOST="unix://$SOCK"
NATS_BIN="$TOOLS/venv/bin/nats-server"
# Tagged with the pinned version, so a new pin builds a new image.
NATS_IMAGE=leaf-nats:$(sed -n 's/^version //p' "$ROOT/ci/nats-server.pin")
MANAGED_LABEL=org.testcontainers.managed-by=testcontainers

say() { echo "docker: $*"; }
die() { echo "docker: $*" >&2; exit 1; }

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
  command -v fusermount3 >/dev/null || missing+=(fuse3)
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || die "needs ${missing[*]}: run 'sudo apt-get install ${missing[*]}' (the crash suites cannot run without them)"
  say "installing ${missing[*]}"
  apt-get update -qq
  # Debian's postinst tries to start the system service; without systemd that is refused,
  # which is fine: we start our own engine below.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_engine() {
  mkdir -p "$DIR"
  if answers; then
    say "reusing the engine on $SOCK"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "dockerd needs root to start (or start one yourself on $SOCK)"
  [ -e /dev/fuse ] || die "/dev/fuse is missing: the power-loss suite needs FUSE"
  # A stale pidfile or socket from a killed engine makes dockerd refuse to start.
  if [ -f "$DIR/dockerd.pid" ] && ! kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; then
    rm -f "$DIR/dockerd.pid"
  fi
  rm -f "$SOCK"
  say "starting dockerd on $SOCK (log: $DIR/dockerd.log)"
  setsid dockerd \
    --host "$DOCKER_HOST" \
    --data-root "$DIR/data" \
    --exec-root "$DIR/exec" \
    --pidfile "$DIR/dockerd.pid" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    --userland-proxy=false \
    --shutdown-timeout 5 \
    >"$DIR/dockerd.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$DIR/started-by-leaf"
  for _ in $(seq 1 150); do
    answers && { say "dockerd $pid is up"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$DIR/dockerd.log" >&2 || true
  die "dockerd did not come up (see $DIR/dockerd.log)"
}

# A power-loss suite that was itself killed leaves its FUSE mount behind, dead.
unmount_stale_lazyfs() {
  local mounts
  mounts=$(awk '$1 == "leaf-lazyfs" { print $2 }' /proc/mounts)
  for m in $mounts; do
    # A live one (another run's) answers stat; a dead one says "not connected".
    timeout 5 stat "$m" >/dev/null 2>&1 && continue
    say "unmounting a stale LazyFS at $m"
    umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
  done
}

sweep() {
  local left
  left=$(docker ps -aq --filter "label=$MANAGED_LABEL")
  if [ -n "$left" ]; then
    say "removing $(wc -w <<<"$left") leftover test containers"
    # shellcheck disable=SC2086
    docker rm -f $left >/dev/null
  fi
}

build_images() {
  [ -x "$NATS_BIN" ] || die "$NATS_BIN is missing: run 'make deps' first"
  local ctx
  ctx=$(mktemp -d)
  cp -L "$NATS_BIN" "$ctx/nats-server"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY nats-server /nats-server
ENTRYPOINT ["/nats-server"]
EOF
  # The legacy builder needs no buildx plugin; with a FROM scratch image it has nothing to pull.
  DOCKER_BUILDKIT=0 docker build --quiet --tag "$NATS_IMAGE" "$ctx" >/dev/null 2>"$ctx/err" \
    || { cat "$ctx/err" >&2; rm -rf "$ctx"; die "building $NATS_IMAGE failed"; }
  rm -rf "$ctx"
  say "image $NATS_IMAGE ready"
}

stop_engine() {
  local marker="$DIR/started-by-leaf"
  [ -f "$marker" ] || return 0
  local pid
  pid=$(cat "$marker")
  rm -f "$marker"
  # Only the dockerd we started: a recycled PID must not take another process down.
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(command -v dockerd)" ] || return 0
  answers && sweep || true
  say "stopping dockerd $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "dockerd $pid did not stop in 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # dockerd leaves its default network namespace bind-mounted under the exec root, which
  # would make the checkout impossible to delete.
  if grep -q " $DIR/exec/netns/default " /proc/mounts; then
    umount "$DIR/exec/netns/default" 2>/dev/null || true
  fi
}

case "${1:-}" in
  up) install_packages; start_engine; sweep; unmount_stale_lazyfs; build_images ;;
  down) stop_engine ;;
  host) echo "$DOCKER_HOST" ;;
  *) die "usage: ci/docker.sh up|down|host" ;;
esac
