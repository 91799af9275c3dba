#!/usr/bin/env bash
# The GPU numbers in docs/benchmarks.md: a synthetic Llama-3-8B Q4_K_M with the Llama 3
# vocabulary, prefill (pp512/4096/8192) and decode (tg128) in both precisions, time to first
# token for 1k/4k/8k prompts, decode after an 8192-token context, and (ALL_TYPES=1) the
# q8_0, q5_k, q4_0, f16 and bf16 files.
# Run from the project root on a machine with a CUDA device, after a CUDA build.
# GRETA (binary, default build/greta), GRETA_SHARED_DIR (default ../shared), TMPDIR.
set -euo pipefail
greta="${GRETA:-build/greta}"
shared="${GRETA_SHARED_DIR:-../shared}"
tmp="${TMPDIR:-/tmp}"
model="$tmp/greta-bench-llama3-8b-q4_k_m.gguf"
trap 'rm -f "$model" "$tmp"/greta-bench-llama3-8b-*.gguf' EXIT
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
"$greta" synth --preset llama3-8b --type q4_k_m --vocab "$shared/tokenizers/llama3/tokenizer.json" -o "$model" 2>/dev/null
echo "## q4_k_m, fast (default): prefill and decode"
"$greta" bench -m "$model" --backend cuda -p 512,4096,8192 -n 128 -r 3
echo "## q4_k_m, fast: time to first token at 1k tokens"
"$greta" bench -m "$model" --backend cuda -p 1024 -n 0 -r 3
echo "## q4_k_m, fast: decode after an 8192-token context"
"$greta" bench -m "$model" --backend cuda -p 0 -n 128 -d 8192 -r 2
echo "## q4_k_m, exact"
"$greta" bench -m "$model" --backend cuda --precision exact -p 512 -n 128 -r 2
if [ "${ALL_TYPES:-0}" = 1 ]; then
  for type in q8_0 q5_k q4_0 f16 bf16; do
    m="$tmp/greta-bench-llama3-8b-$type.gguf"
    "$greta" synth --preset llama3-8b --type "$type" -o "$m" 2>/dev/null
    echo "## $type, fast"; "$greta" bench -m "$m" --backend cuda -p 512 -n 128 -r 2
    rm -f "$m"
  done
fi
