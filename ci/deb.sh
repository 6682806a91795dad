#!/usr/bin/env bash
# Builds leaf's Debian package from the release binary (`make deb` builds that first, with
# the embedded nats-server): /usr/bin/leaf, the systemd unit, /etc/default/leaf, and the
# maintainer scripts that make the leaf user and /var/lib/leaf. Prints the package's path.
#
#   ci/deb.sh [BINARY] [OUT_DIR]     defaults: target/release/leaf, target/debian
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BINARY=${1:-$ROOT/target/release/leaf}
OUT=${2:-$ROOT/target/debian}
SRC=$ROOT/packaging/deb

[ -x "$BINARY" ] || { echo "deb: $BINARY is missing; run make build" >&2; exit 1; }
for tool in dpkg-deb strip; do
  command -v "$tool" >/dev/null || { echo "deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done
# A package without its nats-server would install a leaf that cannot start.
"$BINARY" --version | grep -q "nats-server .* embedded" || {
  echo "deb: $BINARY carries no nats-server; build it with make build (feature bundled-nats-server)" >&2
  exit 1
}

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# Debug info is most of a release binary; symbols stay, so a panic still names functions.
install -D -m 0755 "$BINARY" "$STAGE/usr/bin/leaf"
strip --strip-debug "$STAGE/usr/bin/leaf"
install -D -m 0644 "$SRC/leaf.service" "$STAGE/lib/systemd/system/leaf.service"
# Root's only: it may hold --metrics-token (systemd reads it as root).
install -D -m 0600 "$SRC/default" "$STAGE/etc/default/leaf"
install -D -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/leaf/README.md"
install -d -m 0755 "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$SRC/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/default/leaf > "$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: leaf
Version: $VERSION
Architecture: $ARCH
Maintainer: Felt <leaf@felt.invalid>
Installed-Size: $SIZE
Depends: libc6 (>= 2.34), libgcc-s1, passwd, init-system-helpers
Section: net
Priority: optional
Description: venue node of Felt, the poker-tournament platform
 leaf is the system of record for every tournament at one venue: a durable
 event log (NATS JetStream, with the pinned nats-server inside the binary),
 the Tournament Director's console, and live clock displays, as one service.
CONTROL

mkdir -p "$OUT"
PACKAGE="$OUT/leaf_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$PACKAGE" >/dev/null
echo "$PACKAGE"
