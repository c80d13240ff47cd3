#!/usr/bin/env bash
# hob installer: Debian 12/13 and Ubuntu 22.04/24.04, x86_64 and aarch64. Run it as root from a
# hob checkout. hob is installed into /usr/local/lib/hob/app (the checkout is left as it is and is
# not needed afterwards; after a `git pull`, run this again to update).
#   sudo ./install.sh              Debian packages, npm dependencies and build, `hob` and `hobd` in
#                                  /usr/local/bin, the `hob` group, cloud-hypervisor (where KVM is usable),
#                                  the systemd unit hobd.service (enabled and started), the `dev` image
#   sudo ./install.sh --minimal    the same with the small `minimal` image instead of `dev`
#   sudo ./install.sh --no-image   the same without building an image
#   sudo ./install.sh --no-ch      the same without cloud-hypervisor (hob then uses qemu)
#   sudo ./install.sh --uninstall  remove hob (unit, commands, /usr/local/lib/hob); keep sandboxes, images, settings
#   sudo ./install.sh --purge      remove hob and its data too (/var/lib/hob, /var/cache/hob, /etc/hob, group hob)
#   sudo ./install.sh --ci         install only what the test suite needs, in this checkout (used by .ci/run)
# Running it again only redoes what is out of date. HOB_CH_FILE=PATH installs that cloud-hypervisor
# binary instead of downloading it (for offline boxes); like a download, it must match the pinned sha256.
set -euo pipefail
cd "$(dirname "$0")"
repo="$(pwd -P)"

# The cloud-hypervisor release hob is written against (daemon/cli/doctor/vmm.ts CH_PINNED_VERSION must
# match), and the sha256 of its static release binaries. A binary with another hash is refused.
CH_VERSION=v53.0
CH_SHA256_X86_64=448af3d4e59b22c2987f7df94c213ad40fb53a10d437e42b5ee6c4fce7c29ecc
CH_SHA256_AARCH64=f192b510eea1c710cbc439d716bb0573c223fc463dbe3e6523788a2b7ef62850
# Where hob looks for it first (daemon/vmm/cloud-hypervisor/binary.ts CH_INSTALL_PATH).
CH_DEST=/usr/local/lib/hob/cloud-hypervisor
# The installed hob: sources, node_modules and the build, owned by root.
APP=/usr/local/lib/hob/app
UNIT_DEST=/etc/systemd/system/hobd.service
BIN_DIR=/usr/local/bin
# Marks files this script wrote (the wrappers, and systemd/hobd.service has it in its header),
# so that --uninstall removes only those.
MARK="installed by hob's install.sh"

mode=full
no_image=0
no_ch=0
variant=dev
set_mode() {
  if [ "$mode" != full ] && [ "$mode" != "$1" ]; then
    echo "install.sh: give only one of --ci, --uninstall and --purge" >&2
    exit 2
  fi
  mode=$1
}
for arg in "$@"; do
  case "$arg" in
    --ci) set_mode ci ;;
    --uninstall) set_mode uninstall ;;
    --purge) set_mode purge ;;
    --no-image) no_image=1 ;;
    --no-ch) no_ch=1 ;;
    --minimal) variant=minimal ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$mode" != full ] && { [ "$no_image" = 1 ] || [ "$no_ch" = 1 ] || [ "$variant" != dev ]; }; then
  echo "install.sh: --no-image, --no-ch and --minimal only go with a normal install" >&2
  exit 2
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo ./install.sh)" >&2
  exit 1
fi

case "$(uname -m)" in
  x86_64) qemu_pkg=qemu-system-x86; ch_asset=cloud-hypervisor-static; ch_sha256=$CH_SHA256_X86_64 ;;
  aarch64) qemu_pkg=qemu-system-arm; ch_asset=cloud-hypervisor-static-aarch64; ch_sha256=$CH_SHA256_AARCH64 ;;
  *) echo "install.sh: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

# A full install shows the time since it started on each step (some take minutes).
step() { if [ "$mode" = ci ]; then printf '==> %s\n' "$*"; else printf '==> [%4ss] %s\n' "$SECONDS" "$*"; fi; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
systemd_running() { [ -d /run/systemd/system ]; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The installed hob CLI (the wrappers in /usr/local/bin may not exist yet, or any more).
hob_cli() { node "$APP/dist/cli/hob.js" "$@"; }
have_app() { [ -f "$APP/dist/cli/hob.js" ] && command -v node >/dev/null 2>&1; }

# hobd's settings that this script needs: cfg_state, cfg_run, cfg_socket, cfg_group, cfg_pool_path.
# Read from /etc/hob/config.yaml with hob's own loader; without an installed hob (a --purge after
# --uninstall), the top-level keys are picked out of the file by hand, else the defaults apply.
read_config() {
  cfg_state=/var/lib/hob cfg_run=/run/hob cfg_socket=/run/hob/hob.sock cfg_group=hob cfg_pool_path=
  if have_app; then
    local out
    out=$(node --input-type=module -e '
      const { loadConfig } = await import(process.argv[1]);
      const c = await loadConfig();
      console.log([c.stateDir, c.runDir, c.api.socketPath, c.api.socketGroup, c.pool.path ?? ""].join("\n"));
    ' "$APP/dist/daemon/config.js") || die "cannot read hob's configuration (see the message above)"
    { read -r cfg_state; read -r cfg_run; read -r cfg_socket; read -r cfg_group; read -r cfg_pool_path || true; } <<<"$out"
  elif [ -f /etc/hob/config.yaml ]; then
    local v
    v=$(sed -n 's/^stateDir:[[:space:]]*\([^#[:space:]]*\).*/\1/p' /etc/hob/config.yaml | head -n1); cfg_state=${v:-$cfg_state}
    v=$(sed -n 's/^runDir:[[:space:]]*\([^#[:space:]]*\).*/\1/p' /etc/hob/config.yaml | head -n1); cfg_run=${v:-$cfg_run}
    v=$(sed -n 's/.*socketGroup:[[:space:]]*\([a-z_][a-z0-9_-]*\).*/\1/p' /etc/hob/config.yaml | head -n1); cfg_group=${v:-$cfg_group}
  fi
}

daemon_answers() { hob_cli --socket "$cfg_socket" images ls --json >/dev/null 2>&1; }

# ------------------------------------------------------------------ uninstall, purge

stop_sandboxes() {
  local names
  names=$(hob_cli --socket "$cfg_socket" ls --json | node -e '
    const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const s of list) if (s.state === "running" || s.state === "paused") console.log(s.name);
  ') || die "cannot list the sandboxes"
  local name
  for name in $names; do
    step "stopping sandbox $name (its disk is kept)"
    hob_cli --socket "$cfg_socket" stop "$name" >/dev/null
  done
}

# Deletes every btrfs subvolume under $1, deepest first (read-only ones, images and checkpoints, included).
delete_subvolumes() {
  local dir
  find "$1" -depth -type d -inum 256 -print0 2>/dev/null | while IFS= read -r -d '' dir; do
    btrfs property set -ts "$dir" ro false 2>/dev/null || true
    btrfs subvolume delete "$dir" >/dev/null
  done
}

uninstall() {
  local purge=$1
  read_config
  if have_app && daemon_answers; then
    if systemd_running && systemctl is-active --quiet hobd.service; then
      stop_sandboxes
    else
      die "hobd is running outside systemd (started by hand with hob daemon): stop it, then run this again"
    fi
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -f "$UNIT_DEST" ]; then
    step "stopping and disabling hobd.service"
    if systemd_running; then systemctl disable --now hobd.service 2>/dev/null || true; else systemctl disable hobd.service 2>/dev/null || true; fi
  fi
  local f
  for f in "$UNIT_DEST" "$BIN_DIR/hob" "$BIN_DIR/hobd"; do
    if [ -f "$f" ] && grep -q "$MARK" "$f"; then rm -f "$f"; step "removed $f"; fi
  done
  if systemd_running; then systemctl daemon-reload; fi
  if [ -e "$(dirname "$APP")" ]; then rm -rf "$(dirname "$APP")"; step "removed $(dirname "$APP") (hob and cloud-hypervisor)"; fi

  local pool_dir="$cfg_state/pool"
  if [ -z "$cfg_pool_path" ] && mountpoint -q "$pool_dir" 2>/dev/null; then
    if umount "$pool_dir"; then
      step "unmounted the pool $pool_dir"
    elif [ "$purge" = 1 ]; then
      die "cannot unmount $pool_dir: something still uses it (a VM hobd did not stop?); stop it and run this again"
    else
      warn "cannot unmount $pool_dir (still in use); it is unmounted at the next reboot"
    fi
  fi

  if [ "$purge" = 0 ]; then
    step "hob is uninstalled; sandboxes, images and settings are kept in $cfg_state and /etc/hob"
    note "sudo ./install.sh brings hob back with them; sudo ./install.sh --purge deletes them"
    return
  fi
  if [ -n "$cfg_pool_path" ]; then
    warn "pool.path $cfg_pool_path is your own btrfs directory: hob's images/ sandboxes/ checkpoints/ trash/ there are left alone"
  fi
  if [ -d "$cfg_state" ]; then
    # A state dir on btrfs holds the pool as a subvolume, with read-only ones inside that rm cannot delete.
    if [ -z "$cfg_pool_path" ] && [ "$(stat -f -c %T "$cfg_state")" = btrfs ]; then delete_subvolumes "$cfg_state"; fi
    rm -rf "$cfg_state"
    step "deleted $cfg_state"
  fi
  for f in "$cfg_run" /var/cache/hob /etc/hob; do
    if [ -e "$f" ]; then rm -rf "$f"; step "deleted $f"; fi
  done
  if getent group "$cfg_group" >/dev/null; then groupdel "$cfg_group"; step "deleted the group $cfg_group"; fi
  step "hob and its data are gone"
}

if [ "$mode" = uninstall ] || [ "$mode" = purge ]; then
  uninstall "$([ "$mode" = purge ] && echo 1 || echo 0)"
  exit 0
fi

# ------------------------------------------------------------------ packages and Node.js

if [ "$mode" = full ] && [ -r /etc/os-release ]; then
  # shellcheck source=/dev/null
  os=$(. /etc/os-release && echo "${ID:-unknown} ${VERSION_ID:-}")
  case "$os" in
    "debian 12"|"debian 13"|"ubuntu 22.04"|"ubuntu 24.04") ;;
    *) warn "$os is not one of the systems hob is made for (Debian 12/13, Ubuntu 22.04/24.04); trying anyway" ;;
  esac
fi

# Debian packages the daemon and the image build need; g++, make and python3 build the native
# npm modules (node-pty, better-sqlite3) when no prebuilt binary can be downloaded.
packages=(
  "$qemu_pkg" qemu-utils btrfs-progs xfsprogs e2fsprogs util-linux iproute2 nftables
  mmdebstrap debian-archive-keyring tini busybox-static socat cpio zstd xz-utils
  ca-certificates g++ make python3
)
# A full install also downloads cloud-hypervisor (curl), creates the hob group (passwd), mounts the
# pool (mount) and copies hob to /usr/local/lib/hob/app (rsync).
if [ "$mode" = full ]; then packages+=(curl passwd mount rsync); fi
# --ci: the dashboard's tests drive Debian's Chromium (test/e2e/dashboard.test.ts, bench/dashboard.ts).
if [ "$mode" = ci ]; then packages+=(chromium); fi

# A full install leaves out the packages' recommendations (qemu-system-x86's would add a GUI stack);
# --ci keeps apt's defaults, as the CI machine has always been set up.
apt_install=(apt-get install -y -qq)
if [ "$mode" = full ]; then apt_install+=(--no-install-recommends); fi

# Sets `missing` to those of the given Debian packages that are not installed.
find_missing() {
  missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
}

find_missing "${packages[@]}"
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ! "${apt_install[@]}" "${missing[@]}"; then
    if grep -qs '^ID=ubuntu' /etc/os-release; then
      echo "install.sh: on Ubuntu, mmdebstrap, tini and debian-archive-keyring are in 'universe': add-apt-repository universe" >&2
    fi
    exit 1
  fi
else
  step "Debian packages already installed"
fi

# --ci also installs what the cross-architecture test needs (test/e2e/arm64.test.ts builds an arm64
# image on x86_64 and boots it under TCG; on aarch64 the same for amd64): the other architecture's
# qemu-system, qemu-user-static and arch-test for mmdebstrap's foreign build, and the C++ cross
# compiler for node-pty. Without recommends: qemu-user-static's (binfmt-support) would register
# the qemu handlers for good, where the image build registers them only while it runs.
if [ "$mode" = ci ]; then
  case "$(uname -m)" in
    x86_64) cross_packages=(qemu-system-arm qemu-user-static arch-test g++-aarch64-linux-gnu) ;;
    aarch64) cross_packages=(qemu-system-x86 qemu-user-static arch-test g++-x86-64-linux-gnu) ;;
  esac
  find_missing "${cross_packages[@]}"
  if [ "${#missing[@]}" -gt 0 ]; then
    step "installing the cross-architecture test packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || exit 1
  fi
fi

node_help() {
  echo "install.sh: $1" >&2
  echo "  Get Node.js 20 or newer from NodeSource (https://github.com/nodesource/distributions, e.g." >&2
  echo "  'curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs')," >&2
  echo "  or the official binaries (https://nodejs.org/en/download); Debian 13's own nodejs and npm packages work too." >&2
  exit 1
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# A full install takes the distribution's Node.js when it is new enough (Debian 13 has 20).
if [ "$mode" = full ] && { ! command -v node >/dev/null 2>&1 || [ "$(node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; }; then
  candidate=$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ { print $2 }')
  candidate_major=$(printf '%s' "${candidate#*:}" | cut -d. -f1)
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && [ "${candidate_major:-0}" -ge 20 ] 2>/dev/null \
      && ! command -v node >/dev/null 2>&1; then
    step "installing Node.js $candidate from the distribution"
    DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" nodejs npm
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  node_help "Node.js 20 or newer is required and 'node' was not found"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  node_help "Node.js $(node -v) is too old; hob needs 20 or newer"
fi
if ! command -v npm >/dev/null 2>&1; then
  node_help "npm was not found next to Node.js $(node -v) (apt-get install npm, or a Node.js that includes it)"
fi

if [ "$mode" = ci ]; then
  step "installing npm dependencies"
  npm ci --no-audit --no-fund
  step "CI mode: done (the test suite builds the guest image it needs)"
  exit 0
fi

# ------------------------------------------------------------------ full install

changed=0   # anything hobd runs changed: restart it at the end
umask 022   # what is installed must be readable by the hob group, whatever root's umask is

# write_file DEST PERM: writes stdin to DEST unless DEST already holds exactly that (returns 1 then).
write_file() {
  local dest=$1 perm=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest" && [ "$(stat -c %a "$dest")" = "${perm#0}" ]; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$perm" "$tmp" "$dest"
  rm -f "$tmp"
}

# The sources go to $APP (what .gitignore lists, node_modules/ and dist/ among it, stays out), owned by
# root and readable by all, so that the members of the hob group can run hob whoever owns the checkout.
mkdir -p "$APP"
chmod 0755 "$(dirname "$APP")" "$APP"
copied=$(rsync -a --omit-dir-times --delete --no-owner --no-group --chmod=go+rX,go-w --itemize-changes \
  --exclude=/.git --filter=':- .gitignore' "$repo/" "$APP/")
if [ -n "$copied" ]; then step "copied the sources to $APP"; else step "the sources in $APP are up to date"; fi
cd "$APP"

npm_stamp_file=node_modules/.hob-install-stamp
npm_stamp="$(sha256_of package-lock.json) node $(node -v) $(uname -m)"
if [ -d node_modules ] && [ "$(cat "$npm_stamp_file" 2>/dev/null)" = "$npm_stamp" ]; then
  step "npm dependencies up to date"
else
  step "installing npm dependencies"
  npm ci --no-audit --no-fund
  printf '%s\n' "$npm_stamp" >"$npm_stamp_file"
fi

# The build's inputs: every file of daemon/ and guest-image/, the manifests and compiler settings.
build_stamp_file=dist/.hob-build-stamp
build_stamp="$({
  find daemon guest-image -type f -print0
  printf '%s\0' package.json package-lock.json tsconfig.json tsconfig.build.json
} | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1) node $(node -v)"
if [ -f dist/daemon/hobd.js ] && [ -f dist/cli/hob.js ] && [ "$(cat "$build_stamp_file" 2>/dev/null)" = "$build_stamp" ]; then
  step "build up to date"
else
  step "building hob"
  npm run build
  printf '%s\n' "$build_stamp" >"$build_stamp_file"
  changed=1
fi

read_config

node_bin=$(command -v node)
if [[ "$node_bin" == *[\'\"\\]* ]]; then die "node's path $node_bin contains a quote or backslash"; fi
wrapper() {
  printf '#!/bin/sh\n# %s: %s (install.sh --uninstall removes it).\n' "$1" "$MARK"
  printf "exec '%s' '%s/%s' \"\$@\"\n" "$node_bin" "$APP" "$2"
}
if wrapper "hob, the command line" dist/cli/hob.js | write_file "$BIN_DIR/hob" 0755; then step "installed $BIN_DIR/hob"; changed=1; fi
if wrapper "hobd, the daemon" dist/daemon/hobd.js | write_file "$BIN_DIR/hobd" 0755; then step "installed $BIN_DIR/hobd"; changed=1; fi

# The API socket is root:<group> mode 0660 when the group exists (daemon/api/server.ts).
if ! getent group "$cfg_group" >/dev/null; then
  groupadd --system "$cfg_group"
  step "created the group $cfg_group: its members use hob without sudo"
  changed=1
fi
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && id "$SUDO_USER" >/dev/null 2>&1 \
    && ! id -nG "$SUDO_USER" | tr ' ' '\n' | grep -qx "$cfg_group"; then
  usermod -aG "$cfg_group" "$SUDO_USER"
  step "added $SUDO_USER to the group $cfg_group (takes effect at the next login, or now in 'newgrp $cfg_group')"
fi

mkdir -p /etc/hob
[ -d "$cfg_state" ] || install -d -m 0711 "$cfg_state"

# ------------------------------------------------------------------ cloud-hypervisor

# Prints why KVM is (not) usable, exactly as hobd decides it (daemon/vmm/kvm.ts); status 0 if usable.
kvm_usable() {
  node --input-type=module -e '
    const { detectKvm } = await import(process.argv[1]);
    const s = await detectKvm();
    process.stdout.write(s.reason);
    process.exit(s.usable ? 0 : 1);
  ' "$APP/dist/daemon/vmm/kvm.js"
}

install_ch() {
  local tmp actual reason url
  if [ "$no_ch" = 1 ]; then step "not installing cloud-hypervisor (--no-ch): hob uses qemu"; return; fi
  if [ -x "$CH_DEST" ] && [ "$(sha256_of "$CH_DEST")" = "$ch_sha256" ]; then
    step "cloud-hypervisor $CH_VERSION already installed"
    return
  fi
  tmp=$(mktemp)
  if [ -n "${HOB_CH_FILE:-}" ]; then
    step "installing cloud-hypervisor from $HOB_CH_FILE"
    cp -- "$HOB_CH_FILE" "$tmp" || { rm -f "$tmp"; die "cannot read HOB_CH_FILE=$HOB_CH_FILE"; }
  else
    if ! reason=$(kvm_usable); then
      rm -f "$tmp"
      step "not installing cloud-hypervisor: KVM is not usable here, so hob uses qemu"
      note "$reason"
      note "run sudo ./install.sh again once KVM works"
      return
    fi
    url="https://github.com/cloud-hypervisor/cloud-hypervisor/releases/download/$CH_VERSION/$ch_asset"
    step "downloading cloud-hypervisor $CH_VERSION ($url)"
    if ! curl -fL --proto '=https' --connect-timeout 20 --max-time 900 --retry 2 -o "$tmp" "$url"; then
      rm -f "$tmp"
      warn "cannot download cloud-hypervisor (no network to github.com?): hob uses qemu for now"
      note "to install it later, fetch $url elsewhere, copy it here and run: sudo HOB_CH_FILE=/path/to/$ch_asset ./install.sh"
      return
    fi
  fi
  actual=$(sha256_of "$tmp")
  if [ "$actual" != "$ch_sha256" ]; then
    rm -f "$tmp"
    die "refusing to install cloud-hypervisor: its sha256 is $actual, but $CH_VERSION $ch_asset has $ch_sha256"
  fi
  install -D -m 0755 "$tmp" "$CH_DEST"
  rm -f "$tmp"
  step "installed cloud-hypervisor $CH_VERSION in $CH_DEST (sha256 checked)"
  changed=1
}
install_ch

# ------------------------------------------------------------------ systemd

if write_file "$UNIT_DEST" 0644 <"$APP/systemd/hobd.service"; then
  step "installed $UNIT_DEST"
  changed=1
  if systemd_running; then systemctl daemon-reload; fi
fi
if command -v systemctl >/dev/null 2>&1 && ! systemctl is-enabled --quiet hobd.service 2>/dev/null; then
  systemctl enable --quiet hobd.service && step "enabled hobd.service (starts at boot)"
fi

daemon_up=0
if systemd_running; then
  if systemctl is-active --quiet hobd.service; then
    if [ "$changed" = 1 ]; then
      step "restarting hobd (running sandboxes keep running; the new hobd adopts them)"
      systemctl restart hobd.service
    else
      step "hobd is running"
    fi
  else
    step "starting hobd"
    systemctl start hobd.service
  fi
  for _ in $(seq 1 60); do
    if daemon_answers; then daemon_up=1; break; fi
    sleep 1
  done
  [ "$daemon_up" = 1 ] || die "hobd does not answer on $cfg_socket; see: journalctl -u hobd -n 50"
else
  step "systemd is not running here (a container or chroot?): hobd is not started"
  note "start it yourself, as root: hob daemon"
fi

# ------------------------------------------------------------------ guest image

image=$variant
if [ "$no_image" = 1 ]; then
  step "no guest image (--no-image); build one later with: hob images build dev"
elif [ "$daemon_up" = 1 ]; then
  if hob_cli --socket "$cfg_socket" images ls --json | node -e '
      const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
      process.exit(list.some((i) => i.name === process.argv[1]) ? 0 : 1);
    ' "$image"; then
    step "the $image image is there (rebuild it with: hob images build $image --variant $variant --replace)"
  else
    step "building the $image guest image (the dev image takes 10-20 minutes the first time)"
    hob_cli --socket "$cfg_socket" images build "$image" --variant "$variant"
  fi
else
  step "building the $variant guest image into the image cache (the dev image takes 10-20 minutes the first time)"
  "$APP/guest-image/build.sh" --variant "$variant" >/dev/null
  note "once hobd runs, 'hob images build $image --variant $variant' imports it from the cache in seconds"
fi

# ------------------------------------------------------------------ done

step "hob is installed; what this machine offers it (hob doctor):"
hob_cli doctor --socket "$cfg_socket" || true
if [ "$daemon_up" = 1 ] && [ "$no_image" = 0 ]; then
  if [ "$image" = dev ]; then note "first sandbox: hob create dev && hob console dev"; else note "first sandbox: hob create box --image $image && hob console box"; fi
fi
