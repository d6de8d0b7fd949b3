#!/usr/bin/env bash
# Install what the browser tests (pytest -m browser) need on a fresh Debian machine:
# Debian's chromium and chromedriver, plus fonts-liberation (only a Recommends of chromium,
# but without any font the screenshots show empty boxes).
# Idempotent: does nothing when /usr/bin/chromium is already there and runs.
# Exits non-zero when chromium cannot be installed or does not start: .ci/run stops on it.
set -euo pipefail

chromium_runs() {
  [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1
}

if chromium_runs; then
  echo "browser-deps: /usr/bin/chromium already installed"
  exit 0
fi

trap 'echo "browser-deps: could not install chromium (line $LINENO failed)" >&2' ERR
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-liberation >/dev/null
if ! chromium_runs; then
  echo "browser-deps: /usr/bin/chromium is still missing or does not start" >&2
  exit 1
fi
echo "browser-deps: installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
