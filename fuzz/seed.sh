#!/usr/bin/env bash
# Builds the fuzzer's seed corpus from the fixtures: each file, prefixed with the
# byte that makes the harness put it where it belongs.
#   fuzz/seed.sh && cargo fuzz run loader corpus/loader -- -max_total_time=1800
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/loader
n=0
for f in ../tests/fixtures/check/*/modelops.kdl ../tests/fixtures/check/*/models/*.kdl \
         ../tests/fixtures/check/*/prompts/*/* ../tests/fixtures/check/*/modelops.lock; do
  [ -f "$f" ] || continue
  case "$f" in
    */modelops.kdl) tag=0 ;;
    */models/*) tag=1 ;;
    */prompts/*) tag=2 ;;
    *) tag=3 ;;
  esac
  { printf '%b' "\\x0$tag"; cat "$f"; } > "corpus/loader/seed-$n"
  n=$((n + 1))
done
echo "$n seeds in fuzz/corpus/loader"
