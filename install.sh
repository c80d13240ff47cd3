#!/usr/bin/env bash
# hob installer.
#   sudo ./install.sh          install hob for use (not complete yet: see README)
#   sudo ./install.sh --ci     install only what the test suite needs (used by .ci/run)
set -euo pipefail
cd "$(dirname "$0")"

mode=full
for arg in "$@"; do
  case "$arg" in
    --ci) mode=ci ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo ./install.sh)" >&2
  exit 1
fi

case "$(uname -m)" in
  x86_64) qemu_pkg=qemu-system-x86 ;;
  aarch64) qemu_pkg=qemu-system-arm ;;
  *) echo "install.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

# Debian packages the daemon and the image build need.
packages=(
  "$qemu_pkg" qemu-utils btrfs-progs e2fsprogs util-linux iproute2 nftables
  mmdebstrap debian-archive-keyring tini busybox-static socat cpio zstd xz-utils
  ca-certificates
)

step() { printf '==> %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
else
  step "Debian packages already installed"
fi

if ! command -v node >/dev/null 2>&1; then
  echo "install.sh: Node.js 20 or newer is required (https://nodejs.org or your distribution's nodejs package)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js $(node -v) is too old; hob needs 20 or newer" >&2
  exit 1
fi

step "installing npm dependencies"
npm ci --no-audit --no-fund

if [ "$mode" = ci ]; then
  step "CI mode: done (the test suite builds the guest image it needs)"
  exit 0
fi

step "building hob"
npm run build
echo "install.sh: the full install (systemd unit, pool, dev image) is not written yet; run 'npm run hobd' by hand" >&2
