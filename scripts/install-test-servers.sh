#!/usr/bin/env bash
# Installs the real servers the integration tests start: Debian's notary package
# (notary-server and the notary client). Does nothing when they are already there.
set -euo pipefail
if command -v notary-server >/dev/null 2>&1 && command -v notary >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The integration tests need Debian's 'notary' package (notary-server, notary) and openssl." >&2
  echo "Install them with: sudo apt-get install -y notary openssl" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq notary openssl >/dev/null
