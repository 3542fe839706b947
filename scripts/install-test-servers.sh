#!/usr/bin/env bash
# Installs the real servers the integration tests start: Debian's notary package
# (notary-server and the notary client), Debian's skopeo and gnupg (simple signing), and
# Debian's docker-registry unpacked into
# .build/docker-registry. Does nothing when they are already there. With the argument
# `notary`, installs only notary and openssl (all `npm run demo` needs).
set -euo pipefail
. "$(dirname "$0")/apt.sh"
install_notary() {
  if command -v notary-server >/dev/null 2>&1 && command -v notary >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
    return 0
  fi
  require_root_apt "trustgate's integration tests and demo need Debian's 'notary' package (notary-server, notary) and openssl." \
    "Install them with: sudo apt-get install -y notary openssl"
  apt_install notary openssl
}
install_notary
[ "${1:-}" = "notary" ] && exit 0

# Debian's skopeo and gnupg for the simple signing tests: skopeo copies and signs images
# (`--sign-by`) with throwaway GPG keys the tests generate.
if ! command -v skopeo >/dev/null 2>&1 || ! command -v gpg >/dev/null 2>&1; then
  require_root_apt "trustgate's simple signing tests need Debian's 'skopeo' and 'gnupg' packages." \
    "Install them with: sudo apt-get install -y skopeo gnupg"
  apt_install skopeo gnupg
fi

# The real docker-registry (distribution 2.8) for the push-event tests: Debian's package,
# unpacked (not installed) into a cache folder and reused. Prints nothing when present.
REGISTRY_CACHE="${TRUSTGATE_REGISTRY_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.build/docker-registry}"
if [ ! -x "$REGISTRY_CACHE/usr/bin/docker-registry" ]; then
  mkdir -p "$REGISTRY_CACHE"
  work="$(mktemp -d)"
  # A fresh machine may have no package lists yet (notary was installed some other way).
  if ! (cd "$work" && apt-get download docker-registry >/dev/null 2>&1); then
    [ "$(id -u)" = "0" ] && apt-get update -qq
    (cd "$work" && apt-get download docker-registry >/dev/null)
  fi
  dpkg -x "$work"/docker-registry_*.deb "$REGISTRY_CACHE"
  rm -rf "$work"
fi

# etcd and kube-apiserver for the admission tests against a real API server: built once per
# machine into a cache outside the clone. Prints nothing when present.
bash "$(dirname "$0")/install-kube-apiserver.sh"
