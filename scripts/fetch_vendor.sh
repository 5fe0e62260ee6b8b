#!/usr/bin/env bash
# Re-fetch the committed browser Socket.IO client from the npm registry and check it is the reviewed file.
#
#   scripts/fetch_vendor.sh          fetch, verify and (re)write eldercare/static/vendor/
#   scripts/fetch_vendor.sh --check  only verify the committed file against the recorded sha256
#
# To upgrade: change VERSION, run the script with SHA256="" to see the new digest, review, record it.
set -euo pipefail

PACKAGE="socket.io-client"
VERSION="4.8.1"
SHA256="${SHA256-b0e735814f8dcfecd6cdb8a7ce95a297a7e1e5f2727a29e6f5901801d52fa0c5}"  # dist/socket.io.min.js

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/eldercare/static/vendor"

verify() {
    local actual
    actual="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$actual" != "$SHA256" ]]; then
        echo "sha256 mismatch for $1: expected ${SHA256:-<none recorded>}, got $actual" >&2
        return 1
    fi
}

if [[ "${1:-}" == "--check" ]]; then
    verify "$DEST/socket.io.min.js"
    echo "ok: $DEST/socket.io.min.js is $PACKAGE@$VERSION"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar -xzf ./*.tgz)
verify "$work/package/dist/socket.io.min.js"
mkdir -p "$DEST"
install -m 0644 "$work/package/dist/socket.io.min.js" "$DEST/socket.io.min.js"
install -m 0644 "$work/package/LICENSE" "$DEST/socket.io.LICENSE"
echo "ok: $PACKAGE@$VERSION -> $DEST"
