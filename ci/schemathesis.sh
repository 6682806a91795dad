#!/usr/bin/env bash
# Installs the pinned schemathesis (ci/schemathesis.txt) into a venv of its own under .tools/,
# beside nats-server's: the API contract tests need it, `make run` does not. Idempotent.
# Needs python3 with venv, which ci/deps.sh makes sure of.
set -euo pipefail
TOOLS=${1:-.tools}
HERE=$(cd "$(dirname "$0")" && pwd)
PINS="$HERE/schemathesis.txt"
VENV="$TOOLS/schemathesis"
VERSION=$(sed -n 's/^schemathesis==//p' "$PINS")
STAMP="$VENV/.pins"

# The stamp is the pins file it was installed from: a changed pin reinstalls.
if [ -x "$VENV/bin/st" ] && cmp -s "$PINS" "$STAMP"; then
  exit 0
fi
mkdir -p "$TOOLS"
[ -x "$VENV/bin/pip" ] || { rm -rf "$VENV"; python3 -m venv "$VENV"; }
echo "deps: installing schemathesis $VERSION into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PINS"
"$VENV/bin/st" --version | grep -q "version $VERSION\$" || { echo "deps: $VENV/bin/st is not schemathesis $VERSION" >&2; exit 1; }
cp "$PINS" "$STAMP"
