#!/usr/bin/env bash
# Installs what the build needs, then configures and builds greta in BUILD_DIR (default build/).
# Extra arguments go to cmake, e.g. scripts/build.sh -DGRETA_SANITIZE=ON
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/install-deps.sh"
# The CUDA backend is built whenever nvcc is found; the toolkit's usual home is not on PATH.
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="/usr/local/cuda/bin:$PATH"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"
