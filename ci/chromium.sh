#!/usr/bin/env bash
# Debian's chromium for the browser tests (frontend/e2e), installed when missing.
# playwright-core drives it; a test tool's own browser download does not work on our machines.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "chromium is missing at $CHROMIUM; install it with: sudo apt-get install -y chromium" >&2
	exit 1
fi
echo "installing Debian's chromium for the browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$CHROMIUM" --version >&2
