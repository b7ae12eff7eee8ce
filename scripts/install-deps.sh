#!/usr/bin/env bash
# Installs the Debian 12 packages Kairos needs, skipping those already present.
# Never installs libboost-dev: it pulls Boost 1.74 and removes 1.81.
set -euo pipefail
pkgs=(build-essential cmake git pkg-config
      libcaf-dev libboost1.81-dev doctest-dev nlohmann-json3-dev
      libopenblas-dev libpcre2-dev libyaml-cpp-dev libbenchmark-dev libcli11-dev
      libssl-dev openssl curl    # TLS (--tls-cert); the tests make a self-signed cert and use curl
      chromium)                  # tests/http/test_dashboard.cpp drives the dashboard headless
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
