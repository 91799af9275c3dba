#!/usr/bin/env bash
# The CPU numbers in docs/benchmarks.md: memory bandwidth (the decode floor), greta bench on
# stories260K and on a synthetic 1B-class Q4_K_M model, and the cost of auditing p6_long
# against a plain prefill + decode of it. Run from the project root after scripts/build.sh.
# Writes synthetic models to ${TMPDIR:-/tmp} and removes them at the end.
set -euo pipefail
greta=build/greta
tmp="${TMPDIR:-/tmp}"
threads="${THREADS:-$(nproc)}"
model_1b="$tmp/greta-bench-llama3-1b-q4_k_m.gguf"
trap 'rm -f "$model_1b"' EXIT

echo "## machine"; lscpu | grep -E "Model name|^CPU\(s\)|L2|L3" ; git rev-parse --short HEAD
echo "## memory bandwidth"; build/bench/memory_bandwidth 1024
echo "## stories260K"; $greta bench -m ../shared/models/stories260K.gguf -p 64 -n 64 -r 5 -t "$threads"
$greta synth --preset llama3-1b --type q4_k_m --vocab ../shared/tokenizers/llama3/tokenizer.json -o "$model_1b" 2>/dev/null
echo "## llama3-1b q4_k_m (synthetic)"; $greta bench -m "$model_1b" -p 64,512 -n 32 -r 2 -t "$threads"
echo "## audit cost, p6_long"
t0=$(date +%s.%N); $greta run -m "$model_1b" -f ../shared/prompts/p6_long.txt --special -n 2 --temp 0 -t "$threads" >/dev/null 2>&1; t1=$(date +%s.%N)
$greta audit -m "$model_1b" -f ../shared/prompts/p6_long.txt -t "$threads" >/dev/null 2>&1 || true; t2=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "plain prefill+decode: %.2f s; audit: %.2f s; ratio: %.2f\n", b - a, c - b, (c - b) / (b - a) }'
