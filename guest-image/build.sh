#!/usr/bin/env bash
# Builds the hob guest image, for this host's architecture unless --arch says otherwise.
#   guest-image/build.sh [--variant minimal|dev] [--arch amd64|arm64] [--out DIR] [--json]
#                        [--cache-dir DIR] [--force] [--force-base] [--verbose]
# Needs root, mmdebstrap and e2fsprogs; a cross build also qemu-user-static and the C++ cross
# compiler (g++-aarch64-linux-gnu on x86_64). Prints the image directory on stdout.
# The work is done by guest-image/build/main.ts (see there and build-image.ts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tsx="$root/node_modules/.bin/tsx"
if [[ ! -x "$tsx" ]]; then
  echo "build.sh: $tsx not found; run npm install in $root first" >&2
  exit 1
fi
exec "$tsx" "$root/guest-image/build/main.ts" "$@"
