#!/usr/bin/env bash
# Installs what the admission tests against a real Kubernetes API server need: Debian's
# etcd-server (the `etcd` binary) and kube-apiserver 1.20.2, which Debian packages only as
# source. The binary is built once from Debian's source package into a machine-level cache,
#   ${TRUSTGATE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustgate/kube-apiserver-1.20.2}/kube-apiserver
# so every clone on the machine reuses it. Does nothing, and prints nothing, when both are there.
# The build (about 6 minutes on 2 cores) runs in a temporary folder that is removed afterwards:
# the unpacked tree is about 2.2 GB.
set -euo pipefail
. "$(dirname "$0")/apt.sh"

KUBE_VERSION="1.20.2"
KUBE_CACHE="${TRUSTGATE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustgate/kube-apiserver-$KUBE_VERSION}"
KUBE_BIN="$KUBE_CACHE/kube-apiserver"

if command -v etcd >/dev/null 2>&1 && [ -x "$KUBE_BIN" ]; then
  exit 0
fi

require_root_apt "trustgate's Kubernetes admission tests need etcd (Debian's 'etcd-server') and kube-apiserver $KUBE_VERSION built from Debian's source package into $KUBE_CACHE." \
  "Run this script as root on Debian: sudo $0"

if ! command -v etcd >/dev/null 2>&1; then
  apt_install etcd-server
fi
[ -x "$KUBE_BIN" ] && exit 0

# The Kubernetes makefiles copy their code generators' output with rsync.
apt_install golang-go dpkg-dev make rsync

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Building kube-apiserver $KUBE_VERSION from Debian's source package into $KUBE_CACHE (about 6 minutes)..." >&2

# A private apt configuration holding only a deb-src line, so the machine's sources.list,
# package lists and caches stay as they were. Its folders are root's private temp folder, which
# apt's unprivileged download user cannot enter: downloads run as root (the files are checked
# against Debian's signed Release file all the same).
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$apt_dir/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main" \
  >"$apt_dir/sources.list"
apt_private=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "APT::Sandbox::User=root"
)
apt-get "${apt_private[@]}" update -qq
mkdir -p "$work/src"
(cd "$work/src" && apt-get "${apt_private[@]}" source --download-only -qq kubernetes >/dev/null)
# Debian versions it 1.20.5+really1.20.2-N: the upstream tree is 1.20.2.
if ! grep -Eq "^Version: ([0-9.]+\+really)?$KUBE_VERSION-" "$work"/src/kubernetes_*.dsc; then
  echo "Debian's kubernetes source package is not $KUBE_VERSION: $(grep -m1 '^Version:' "$work"/src/kubernetes_*.dsc)" >&2
  exit 1
fi
dpkg-source --no-check -x "$work"/src/kubernetes_*.dsc "$work/src/kubernetes" >/dev/null
tree="$work/src/kubernetes"

# The vendored github.com/modern-go/reflect2 1.0.1 reads Go runtime internals that changed in
# Go 1.18: under Debian's Go 1.19 the API server dies with `fatal error: fault` in mapiternext on
# the first webhook JSON patch. Debian's reflect2 1.0.2 (same API) supports these Go versions, so
# its sources replace the vendored ones.
(cd "$work" && apt-get -o "APT::Sandbox::User=root" download -qq golang-github-modern-go-reflect2-dev >/dev/null)
dpkg -x "$work"/golang-github-modern-go-reflect2-dev_*.deb "$work/reflect2"
vendored="$tree/vendor/github.com/modern-go/reflect2"
rm -f "$vendored"/*.go "$vendored"/*.s
find "$work/reflect2/usr/share/gocode/src/github.com/modern-go/reflect2" -maxdepth 1 -type f \
  \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$vendored/" \;

# The build as the Kubernetes makefiles expect it: the tree visible as k8s.io/kubernetes on
# GOPATH, vendored modules only (no network), a static binary, Go's caches inside $work.
mkdir -p "$work/gopath/src/k8s.io"
ln -s "$tree" "$work/gopath/src/k8s.io/kubernetes"
if ! (
  cd "$work/gopath/src/k8s.io/kubernetes" &&
    GOPATH="$work/gopath" GOCACHE="$work/gocache" GOMODCACHE="$work/gopath/pkg/mod" \
      GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0 GO111MODULE=on \
      make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1
); then
  tail -n 40 "$work/build.log" >&2
  echo "kube-apiserver build failed (log above)" >&2
  exit 1
fi

built="$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)"
if [ -z "$built" ]; then
  echo "kube-apiserver build finished but no binary was found under _output" >&2
  exit 1
fi
mkdir -p "$KUBE_CACHE"
cp "$built" "$KUBE_CACHE/.kube-apiserver.$$"
mv "$KUBE_CACHE/.kube-apiserver.$$" "$KUBE_BIN"
echo "kube-apiserver $KUBE_VERSION installed at $KUBE_BIN" >&2
