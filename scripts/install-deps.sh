#!/usr/bin/env bash
# Installs the Debian packages greta builds with (skips the ones already present).
#   GoogleTest      unit tests                 nlohmann-json  JSON (references, traces, reports)
#   CLI11           command-line parsing       PCRE2          the Llama 3 pre-tokenizer regex
#   python3         the test of scripts/timeline_summary.py (the CUDA step timeline's reader)
#   clang           libFuzzer (CI's fuzz step only, with --fuzz)
set -euo pipefail
packages=(cmake make g++ pkg-config libgtest-dev nlohmann-json3-dev libcli11-dev libpcre2-dev python3)
[ "${1:-}" = "--fuzz" ] && packages+=(clang)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
