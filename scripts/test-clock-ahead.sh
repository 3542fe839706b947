#!/usr/bin/env bash
# Runs the unit suite with the system clock moved ahead (one and five years by default), so a
# test or product path that reads today's date instead of its injected clock fails here, not on
# the day its fixed dates fall behind. libfaketime (Debian's `faketime`) moves the wall clock of
# the test process and every Node process it starts; the monotonic clock is left alone (timers).
# Usage: scripts/test-clock-ahead.sh [OFFSET...]   e.g. +365d +1826d
set -euo pipefail
. "$(dirname "$0")/apt.sh"
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v faketime >/dev/null 2>&1; then
  require_root_apt "Moving the clock ahead needs Debian's 'faketime' package." "Install it with: sudo apt-get install -y faketime"
  apt_install faketime
fi
offsets=("$@")
[ "${#offsets[@]}" -gt 0 ] || offsets=(+365d +1826d)
for offset in "${offsets[@]}"; do
  echo "Unit suite with the clock at $(FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$offset" date -u +%Y-%m-%dT%H:%M:%SZ) ($offset)" >&2
  (cd "$root" && FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "$offset" node node_modules/vitest/vitest.mjs run test/unit --reporter=dot)
done
