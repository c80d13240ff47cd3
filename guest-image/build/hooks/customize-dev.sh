#!/bin/sh
# mmdebstrap customize hook of the `dev` variant. Runs on the host with the
# chroot directory as $1, while the chroot still has /proc, /sys and /dev and
# the host's resolv.conf. Environment (set by base-tree.ts):
#   HOB_NPM_GLOBAL    space-separated npm packages to install globally
#   HOB_NPM_REGISTRY  npm registry URL (default https://registry.npmjs.org/)
set -eu
root="$1"

# The interactive user: uid 1000, bash, passwordless sudo.
chroot "$root" useradd --create-home --uid 1000 --user-group --shell /bin/bash --comment hob hob
printf 'hob ALL=(ALL:ALL) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/hob"
chmod 0440 "$root/etc/sudoers.d/hob"

# Agent CLIs from npm, on Debian's nodejs/npm (prefix /usr/local).
if [ -n "${HOB_NPM_GLOBAL:-}" ]; then
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  chroot "$root" env HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    npm install --global --no-fund --no-audit --no-update-notifier \
    --registry "${HOB_NPM_REGISTRY:-https://registry.npmjs.org/}" $HOB_NPM_GLOBAL
  chroot "$root" env HOME=/root npm cache clean --force
  rm -rf "$root/root/.npm"
fi
