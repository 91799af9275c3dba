#!/usr/bin/env bash
# Builds greta (scripts/build.sh, same arguments) and runs every test with CTest.
# Tests read ../shared beside the project root; GPU tests skip with a reason when no GPU is present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" "$@"
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-$(nproc)}"
