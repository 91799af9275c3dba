#!/usr/bin/env bash
# Builds the GGUF reader fuzzer in build-fuzz/ and runs it for SECONDS (default 60).
# Seeds: small files from gguf_seed_writer plus copies of ../shared/models/*.gguf, gathered
# in a temporary directory (data files are never kept in the repository). New interesting
# inputs stay in that directory; crashes are written to build-fuzz/artifacts/.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
jobs="${JOBS:-2}"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGRETA_FUZZ=ON -DGRETA_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target gguf_reader_fuzz gguf_seed_writer -j "$jobs"

corpus="$(mktemp -d "${TMPDIR:-/tmp}/gguf_fuzz_corpus.XXXXXX")"
trap 'rm -rf "$corpus"' EXIT
"$build/fuzz/gguf_seed_writer" "$corpus"
for f in "$root"/../shared/models/*.gguf "$root"/../shared/tokenizers/vectors/*.gguf; do
  [ -f "$f" ] && cp "$f" "$corpus/"
done

mkdir -p "$build/artifacts"
# Real models are megabytes; -max_len keeps mutation fast and still covers their headers.
"$build/fuzz/gguf_reader_fuzz" "$corpus" \
  -dict="$root/fuzz/gguf.dict" \
  -max_total_time="$seconds" \
  -max_len="${MAX_LEN:-65536}" \
  -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/artifacts/" \
  -print_final_stats=1
