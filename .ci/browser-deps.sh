#!/usr/bin/env bash
# Install what the browser tests (pytest -m browser) need on a fresh Debian machine:
# Debian's chromium and chromedriver, plus fonts-liberation (only a Recommends of chromium,
# but without any font the screenshots show empty boxes).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "browser-deps: /usr/bin/chromium already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-liberation >/dev/null
echo "browser-deps: installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
