#!/bin/sh
# mmdebstrap customize hook of the `dev` variant. Runs on the host with the
# chroot directory as $1, while the chroot still has /proc, /sys and /dev and
# the host's resolv.conf. Environment (set by base-tree.ts):
#   HOB_NPM_GLOBAL    space-separated npm packages to install globally
#   HOB_NPM_REGISTRY  npm registry URL (default https://registry.npmjs.org/)
#   HOB_NPM_CAFILE    CA bundle npm trusts while installing (default: the host's
#                     /etc/ssl/certs/ca-certificates.crt, so a TLS-inspecting proxy
#                     the host trusts works); it is not left in the image
set -eu
root="$1"

# The interactive user: uid 1000, bash, passwordless sudo.
chroot "$root" useradd --create-home --uid 1000 --user-group --shell /bin/bash --comment hob hob
printf 'hob ALL=(ALL:ALL) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/hob"
chmod 0440 "$root/etc/sudoers.d/hob"

# Agent CLIs from npm, on Debian's nodejs/npm (prefix /usr/local).
if [ -n "${HOB_NPM_GLOBAL:-}" ]; then
  cafile=${HOB_NPM_CAFILE:-/etc/ssl/certs/ca-certificates.crt}
  set --
  if [ -r "$cafile" ]; then
    cp "$cafile" "$root/tmp/hob-npm-ca.crt"
    set -- --cafile /tmp/hob-npm-ca.crt
  fi
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  chroot "$root" env HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    npm install --global --no-fund --no-audit --no-update-notifier "$@" \
    --registry "${HOB_NPM_REGISTRY:-https://registry.npmjs.org/}" $HOB_NPM_GLOBAL
  rm -f "$root/tmp/hob-npm-ca.crt"
  # npm 9 (bookworm) ignores package.json "libc", so optional native packages
  # built for musl are installed next to the glibc ones (Claude Code: ~370 MB).
  chroot "$root" node -e '
    const fs = require("fs"), path = require("path");
    function walk(dir) {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        const p = path.join(dir, e.name), pj = path.join(p, "package.json");
        let libc;
        try { libc = JSON.parse(fs.readFileSync(pj, "utf8")).libc; } catch {}
        if (Array.isArray(libc) && !libc.includes("glibc")) {
          fs.rmSync(p, { recursive: true, force: true });
          console.log("removed musl-only package " + p);
        } else walk(p);
      }
    }
    walk("/usr/local/lib/node_modules");'
  chroot "$root" env HOME=/root npm cache clean --force
  rm -rf "$root/root/.npm"
fi
