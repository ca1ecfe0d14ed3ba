#!/usr/bin/env bash
# Installs the system and npm packages the test suite needs (idempotent; quick when present).
# Called by `make test`; each block names the tests that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ ! -f /tmp/.twin-apt-updated ]; then
      apt-get update -qq && touch /tmp/.twin-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}
